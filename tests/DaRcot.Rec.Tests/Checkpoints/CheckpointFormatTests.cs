using System.Buffers.Binary;
using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>Safetensors and TorchSharp formats round-trip; writes are atomic.</summary>
public sealed class CheckpointFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-fmt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TempPath(string name) => Path.Combine(_dir, name);

    private static Dictionary<string, Tensor> Sample() => new()
    {
        ["f32"] = tensor(new float[] { 1.5f, -2f, 3.25f, 0f, 1e-3f, 7f }).reshape(2, 3),
        ["f16"] = tensor(new float[] { 0.5f, -1f }).to_type(ScalarType.Float16),
        ["bf16"] = tensor(new float[] { 2f, -0.25f }).to_type(ScalarType.BFloat16),
        ["f64"] = tensor(new double[] { Math.PI }),
        ["i64"] = tensor(new long[] { long.MaxValue, -3 }),
        ["i32"] = tensor(new int[] { 7, -8, 9 }),
        ["u8"] = tensor(new byte[] { 0, 255 }),
        ["bool"] = tensor(new bool[] { true, false, true }),
        ["scalar"] = tensor(4f),
        ["empty"] = zeros(0, 3),
    };

    private static void AssertSame(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (k, e) in expected)
        {
            var a = actual[k];
            Assert.Equal(e.dtype, a.dtype);
            Assert.Equal(e.shape, a.shape);
            Assert.True((e == a).all().item<bool>(), $"{k} differs");
        }
    }

    [Fact]
    public void Safetensors_round_trip_keeps_order_dtypes_shapes_values_and_metadata()
    {
        var sample = Sample();
        var path = TempPath("w.safetensors");
        SafetensorsFile.Write(path, sample, new Dictionary<string, string> { ["format"] = "pt", ["arch"] = "test" });
        try
        {
            Assert.Equal(CheckpointFormat.Safetensors, CheckpointReader.DetectFormat(path));
            var back = SafetensorsFile.Read(path);
            AssertSame(sample, back);
            TensorSets.DisposeAll(back.Values);
            var viaReader = CheckpointReader.ReadStateDict(path);
            AssertSame(sample, viaReader);
            TensorSets.DisposeAll(viaReader.Values);
            Assert.Equal("test", SafetensorsFile.ReadMetadata(path)["arch"]);

            // Independent check of the layout: u64 header length, JSON header, data aligned to 8 bytes.
            var raw = File.ReadAllBytes(path);
            var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(raw);
            Assert.Equal(0, (8 + n) % 8);
            using var header = JsonDocument.Parse(raw.AsMemory(8, n));
            var f32 = header.RootElement.GetProperty("f32");
            Assert.Equal("F32", f32.GetProperty("dtype").GetString());
            var begin = f32.GetProperty("data_offsets")[0].GetInt32();
            Assert.Equal(1.5f, BitConverter.ToSingle(raw, 8 + n + begin));
            Assert.Equal("BF16", header.RootElement.GetProperty("bf16").GetProperty("dtype").GetString());
        }
        finally
        {
            TensorSets.DisposeAll(sample.Values);
        }
    }

    [Fact]
    public void Corrupt_safetensors_gives_typed_errors()
    {
        var path = TempPath("bad.safetensors");
        var sample = new Dictionary<string, Tensor> { ["x"] = ones(4, 4) };
        SafetensorsFile.Write(path, sample);
        sample["x"].Dispose();
        var raw = File.ReadAllBytes(path);
        File.WriteAllBytes(path, raw.AsSpan(0, raw.Length - 4).ToArray());
        Assert.Contains("truncated", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(path)).Message);
    }

    [Fact]
    public void TorchSharp_module_save_files_are_read_and_our_files_load_with_Module_load()
    {
        using var model = nn.Sequential(("0", nn.Linear(3, 4)), ("1", nn.ReLU()), ("2", nn.Linear(4, 2)));
        var theirs = TempPath("model.dat");
        model.save(theirs);
        Assert.Equal(CheckpointFormat.TorchSharp, CheckpointReader.DetectFormat(theirs));
        var expected = model.state_dict();
        var read = CheckpointReader.ReadStateDict(theirs);
        AssertSame(expected, read);
        var info = CheckpointReader.Inspect(theirs);
        Assert.Equal(4 * 3 + 4 + 2 * 4 + 2, info.Containers.Single().ParameterCount);

        // Our writer → TorchSharp's own loader.
        var ours = TempPath("ours.bin");
        CheckpointWriter.SaveStateDict(ours, read);
        TensorSets.DisposeAll(read.Values);
        using var fresh = nn.Sequential(("0", nn.Linear(3, 4)), ("1", nn.ReLU()), ("2", nn.Linear(4, 2)));
        fresh.load(ours);
        AssertSame(expected, fresh.state_dict());
    }

    [Fact]
    public void CheckpointWriter_picks_safetensors_by_extension()
    {
        var sd = new Dictionary<string, Tensor> { ["w"] = arange(6, dtype: ScalarType.Float32).reshape(2, 3) };
        var path = TempPath("x.safetensors");
        CheckpointWriter.SaveStateDict(path, sd);
        Assert.Equal(CheckpointFormat.Safetensors, CheckpointReader.DetectFormat(path));
        var back = CheckpointReader.ReadStateDict(path);
        AssertSame(sd, back);
        TensorSets.DisposeAll(back.Values, sd.Values);
    }

    [Fact]
    public void AtomicFile_keeps_the_old_file_when_the_writer_throws_and_removes_the_temp_file()
    {
        var path = TempPath("state.bin");
        File.WriteAllText(path, "old content");
        var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("new half-written content"u8);
            throw new InvalidOperationException("disk full (simulated)");
        }));
        Assert.Equal("disk full (simulated)", e.Message);
        Assert.Equal("old content", File.ReadAllText(path));
        Assert.Equal(new[] { "state.bin" }, Directory.GetFiles(_dir).Select(Path.GetFileName));

        AtomicFile.Write(path, s => s.Write("new content"u8));
        Assert.Equal("new content", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_dir));
    }
}
