using System.IO.Compression;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>Hostile and broken checkpoints give typed errors, and nothing in a pickle is ever executed.</summary>
public sealed class CheckpointSafetyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TempPath(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Pickle_calling_os_system_is_refused_and_nothing_runs()
    {
        var marker = TempPath("pwned");
        var pickle = new PickleBytes().Proto().Global("os", "system").Str($"touch {marker}").Tuple1().Reduce().Stop().ToArray();
        var path = TempPath("evil.pth");
        PickleBytes.WriteZip(path, pickle);

        var e = Assert.Throws<UnsafePickleException>(() => CheckpointReader.ReadStateDict(path));
        Assert.Equal("os.system", e.Global);
        Assert.Contains("os.system", e.Message);
        Assert.Contains(path, e.Message);
        Assert.IsAssignableFrom<CheckpointFormatException>(e);
        Assert.Throws<UnsafePickleException>(() => CheckpointReader.Inspect(path));
        Assert.False(File.Exists(marker), "the pickled command must never run");
    }

    [Fact]
    public void Stack_global_eval_in_a_bare_pickle_is_refused()
    {
        var marker = TempPath("pwned2");
        var pickle = new PickleBytes().Proto(4).StackGlobal("builtins", "eval")
            .Str($"open('{marker}','w')").Tuple1().Reduce().Stop().ToArray();
        var path = TempPath("evil.pkl");
        File.WriteAllBytes(path, pickle);
        var e = Assert.Throws<UnsafePickleException>(() => CheckpointReader.ReadStateDict(path));
        Assert.Equal("builtins.eval", e.Global);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Allowed_globals_hidden_among_tensors_do_not_excuse_a_refused_one()
    {
        // A valid tensor entry followed by subprocess.Popen: refused even though the first half is legitimate.
        var pickle = new PickleBytes().Proto().EmptyDict()
            .Str("w").Tensor("FloatStorage", "0", 2, 0, new[] { 2 }, new[] { 1 }).SetItem()
            .Str("x").Global("subprocess", "Popen").Str("true").Tuple1().Reduce().SetItem().Stop().ToArray();
        var path = TempPath("mixed.pth");
        PickleBytes.WriteZip(path, pickle, new Dictionary<string, byte[]> { ["0"] = PickleBytes.Floats(1, 2) });
        var e = Assert.Throws<UnsafePickleException>(() => CheckpointReader.ReadStateDict(path));
        Assert.Equal("subprocess.Popen", e.Global);
    }

    [Fact]
    public void Hand_made_zip_checkpoint_with_offset_and_strided_views_reads_exact_values()
    {
        // Storage "0" holds 0..7. "a" = elements 2..7 as 2×3; "t" = its transpose via strides (1,3); "h" a half tensor.
        var pickle = new PickleBytes().Proto().EmptyDict()
            .Str("a").Tensor("FloatStorage", "0", 8, 2, new[] { 2, 3 }, new[] { 3, 1 }).SetItem()
            .Str("t").Tensor("FloatStorage", "0", 8, 2, new[] { 3, 2 }, new[] { 1, 3 }).SetItem()
            .Str("h").Tensor("HalfStorage", "1", 2, 0, new[] { 2 }, new[] { 1 }).SetItem()
            .Stop().ToArray();
        var path = TempPath("views.pth");
        PickleBytes.WriteZip(path, pickle, new Dictionary<string, byte[]>
        {
            ["0"] = PickleBytes.Floats(0, 1, 2, 3, 4, 5, 6, 7),
            ["1"] = new byte[] { 0x00, 0x3c, 0x00, 0xc0 }, // float16 1.0 and -2.0
        });
        var sd = CheckpointReader.ReadStateDict(path);
        try
        {
            Assert.Equal(new[] { "a", "t", "h" }, sd.Keys);
            Assert.Equal(new float[] { 2, 3, 4, 5, 6, 7 }, sd["a"].data<float>().ToArray());
            Assert.Equal(new long[] { 3, 2 }, sd["t"].shape);
            Assert.Equal(new float[] { 2, 5, 3, 6, 4, 7 }, sd["t"].contiguous().data<float>().ToArray());
            Assert.Equal(TorchSharp.torch.ScalarType.Float16, sd["h"].dtype);
            Assert.Equal(new float[] { 1, -2 }, sd["h"].to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray());
        }
        finally
        {
            TensorSets.DisposeAll(sd.Values);
        }
    }

    [Fact]
    public void Legacy_non_zip_format_reads()
    {
        // torch.save(..., _use_new_zipfile_serialization=False): magic, protocol 1001, sys_info, the object,
        // the storage keys, then per storage an int64 count and its elements.
        var magic = new byte[] { 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 }; // 0x1950a86a20f9469cfc6c LE
        var bytes = new List<byte>();
        bytes.AddRange(new PickleBytes().Proto().Op(0x8a, 10).Raw(magic).Stop().ToArray());
        bytes.AddRange(new PickleBytes().Proto().Op((byte)'M', 0xe9, 0x03).Stop().ToArray());
        bytes.AddRange(new PickleBytes().Proto().EmptyDict().Str("little_endian").Op(0x88).SetItem().Stop().ToArray());
        bytes.AddRange(new PickleBytes().Proto().EmptyDict().Str("state_dict").EmptyDict()
            .Str("module.w").Tensor("FloatStorage", "94", 6, 0, new[] { 2, 3 }, new[] { 3, 1 }).SetItem()
            .SetItem().Stop().ToArray());
        bytes.AddRange(new PickleBytes().Proto().EmptyList().Str("94").Append().Stop().ToArray());
        bytes.AddRange(BitConverter.GetBytes(6L));
        bytes.AddRange(PickleBytes.Floats(1, 2, 3, 4, 5, 6));
        var path = TempPath("legacy.pth");
        File.WriteAllBytes(path, bytes.ToArray());

        Assert.Equal(CheckpointFormat.PyTorchLegacy, CheckpointReader.DetectFormat(path));
        var sd = CheckpointReader.ReadStateDict(path);
        try
        {
            var w = Assert.Single(sd);
            Assert.Equal("w", w.Key); // "module." stripped
            Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, w.Value.data<float>().ToArray());
        }
        finally
        {
            TensorSets.DisposeAll(sd.Values);
        }
        File.WriteAllBytes(path, bytes.Take(bytes.Count - 8).ToArray());
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(path));
        Assert.Contains("truncated", e.Message);
    }

    [SkippableFact]
    public void Truncated_checkpoint_gives_a_typed_error()
    {
        var real = File.ReadAllBytes(Fixtures.Path("parity", "nafnet_tiny", "weights.pth"));
        foreach (var length in new[] { 100, real.Length / 2, real.Length - 10 })
        {
            var path = TempPath($"truncated{length}.pth");
            File.WriteAllBytes(path, real.AsSpan(0, length).ToArray());
            var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(path));
            Assert.Contains(path, e.Message);
        }
    }

    [Fact]
    public void Text_file_empty_file_and_missing_file_give_typed_errors()
    {
        var text = TempPath("notes.pth");
        File.WriteAllText(text, "this is not a checkpoint\n");
        Assert.Contains("unrecognised format", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(text)).Message);
        var empty = TempPath("empty.pth");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        Assert.Contains("empty", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(empty)).Message);
        Assert.Contains("does not exist", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(TempPath("nope.pth"))).Message);
    }

    [Fact]
    public void Zip_without_data_pkl_gives_a_typed_error()
    {
        var path = TempPath("other.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        using (var s = zip.CreateEntry("readme.txt").Open()) s.Write("hello"u8);
        Assert.Contains("data.pkl", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(path)).Message);
    }

    [SkippableFact]
    public void Missing_storage_record_and_truncated_pickle_give_typed_errors()
    {
        byte[] pkl;
        using (var zip = ZipFile.OpenRead(Fixtures.Path("parity", "nafnet_tiny", "weights.pth")))
        using (var s = zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl")).Open())
        using (var ms = new MemoryStream())
        {
            s.CopyTo(ms);
            pkl = ms.ToArray();
        }
        var noData = TempPath("nodata.pth");
        PickleBytes.WriteZip(noData, pkl);
        Assert.Contains("storage record", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(noData)).Message);

        var cut = TempPath("cutpickle.pth");
        PickleBytes.WriteZip(cut, pkl.AsSpan(0, pkl.Length / 2).ToArray());
        Assert.Contains("truncated", Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(cut)).Message);
    }

    [SkippableFact]
    public void Unknown_container_key_lists_the_available_keys()
    {
        var path = Fixtures.Path("parity", "darcot_losses", "official_checkpoint_format.pth");
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(path, "Fnet"));
        Assert.Contains("'Fnet'", e.Message);
        Assert.Contains("'epoch'", e.Message);
        Assert.Contains("'Tnet'", e.Message);
        var notADict = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(path, "epoch"));
        Assert.Contains("not a state dict", notADict.Message);
    }
}
