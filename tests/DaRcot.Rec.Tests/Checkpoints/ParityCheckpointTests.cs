using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>Reads the official parity checkpoints (written by PyTorch 1.13) and checks them against case.json.</summary>
public class ParityCheckpointTests
{
    private readonly ITestOutputHelper _out;

    public ParityCheckpointTests(ITestOutputHelper output) => _out = output;

    [SkippableTheory]
    [InlineData("restormer_tiny_withbias")]
    [InlineData("restormer_tiny_biasfree")]
    [InlineData("nafnet_tiny")]
    [InlineData("nafnet_tiny_unpadded")]
    [InlineData("mprnet_tiny")]
    [InlineData("darcot_mrcnet_small")]
    public void Parity_weights_have_the_key_and_parameter_counts_of_case_json(string caseName)
    {
        var weights = Fixtures.Path("parity", caseName, "weights.pth");
        using var json = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", caseName, "case.json")));
        var container = json.RootElement.GetProperty("container_key").GetString()!;
        int keys = json.RootElement.GetProperty("state_dict_keys").GetInt32();
        long parameters = json.RootElement.GetProperty("param_count").GetInt64();

        var auto = CheckpointReader.ReadStateDict(weights);
        var named = CheckpointReader.ReadStateDict(weights, container);
        try
        {
            Assert.Equal(keys, named.Count);
            Assert.Equal(named.Keys, auto.Keys);
            // parameters() counts a tensor shared under several names once (MPRNet's PReLU).
            Assert.Equal(parameters, TensorSets.Unique(named.Values).Sum(t => t.numel()));
            Assert.All(named.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
            // The fixture weights are multiples of 1/512 (parity/README.md): any misplaced byte breaks that.
            foreach (var (name, t) in named)
            {
                using var scaled = t * 512;
                Assert.True((scaled == scaled.round()).all().item<bool>(), $"{name} is not a multiple of 1/512");
            }

            var info = CheckpointReader.Inspect(weights);
            Assert.Equal(CheckpointFormat.PyTorchZip, info.Format);
            Assert.Equal(container, info.DefaultContainer);
            var c = Assert.Single(info.Containers);
            Assert.Equal(container, c.Key);
            Assert.Equal(keys, c.TensorCount);
            Assert.Equal(parameters, c.ParameterCount);
            Assert.Equal(named.Keys, c.Tensors.Select(x => x.Name));
        }
        finally
        {
            TensorSets.DisposeAll(auto.Values, named.Values);
        }
    }

    [SkippableFact]
    public void First_mprnet_tensor_equals_the_raw_bytes_of_its_storage_record()
    {
        // From `python3 -m pickletools data.pkl`: shallow_feat1.0.weight is storage "0", offset 0, size (8,3,3,3),
        // stride (27,9,3,1), i.e. the first 216 little-endian floats of weights/data/0.
        var weights = Fixtures.Path("parity", "mprnet_tiny", "weights.pth");
        float[] expected;
        using (var zip = ZipFile.OpenRead(weights))
        using (var s = zip.GetEntry("weights/data/0")!.Open())
        {
            var bytes = new byte[216 * 4];
            s.ReadExactly(bytes);
            expected = Enumerable.Range(0, 216).Select(i => BitConverter.ToSingle(bytes, i * 4)).ToArray();
        }
        var sd = CheckpointReader.ReadStateDict(weights, "state_dict");
        try
        {
            var t = sd["shallow_feat1.0.weight"];
            Assert.Equal(new long[] { 8, 3, 3, 3 }, t.shape);
            Assert.Equal(expected, t.data<float>().ToArray());
        }
        finally
        {
            TensorSets.DisposeAll(sd.Values);
        }
    }

    [SkippableFact]
    public void Mprnet_shared_prelu_appears_under_every_registration_name_as_one_tensor()
    {
        var sd = CheckpointReader.ReadStateDict(Fixtures.Path("parity", "mprnet_tiny", "weights.pth"));
        try
        {
            var prelu = sd.Where(kv => kv.Value.shape.SequenceEqual(new long[] { 1 })).ToList();
            Assert.True(prelu.Count > 1, "expected several keys for the shared PReLU");
            Assert.Single(TensorSets.Unique(prelu.Select(kv => kv.Value)));
        }
        finally
        {
            TensorSets.DisposeAll(sd.Values);
        }
    }

    [SkippableFact]
    public void Whole_module_checkpoint_Tnet_equals_the_state_dict_checkpoint_in_keys_order_and_values()
    {
        var official = Fixtures.Path("parity", "darcot_losses", "official_checkpoint_format.pth");
        var plain = Fixtures.Path("parity", "darcot_mrcnet_small", "weights.pth");
        var sw = Stopwatch.StartNew();
        var fromModule = CheckpointReader.ReadStateDict(official, "Tnet");
        _out.WriteLine($"official_checkpoint_format.pth (58 MB) read in {sw.ElapsedMilliseconds} ms");
        sw.Restart();
        var fromStateDict = CheckpointReader.ReadStateDict(plain, "Tnet");
        _out.WriteLine($"darcot_mrcnet_small/weights.pth read in {sw.ElapsedMilliseconds} ms");
        sw.Restart();
        var auto = CheckpointReader.ReadStateDict(official);
        _out.WriteLine($"official_checkpoint_format.pth read again (warm) in {sw.ElapsedMilliseconds} ms");
        sw.Restart();
        CheckpointReader.Inspect(official);
        _out.WriteLine($"official_checkpoint_format.pth inspected (no tensor data) in {sw.ElapsedMilliseconds} ms");
        try
        {
            Assert.Equal(238, fromModule.Count);
            Assert.Equal(fromStateDict.Keys, fromModule.Keys);
            Assert.Equal(fromStateDict.Keys, auto.Keys);
            foreach (var (name, t) in fromStateDict)
            {
                Assert.Equal(t.shape, fromModule[name].shape);
                Assert.True((t == fromModule[name]).all().item<bool>(), $"{name} differs between the two files");
            }
            var info = CheckpointReader.Inspect(official);
            var c = Assert.Single(info.Containers);
            Assert.Equal("Tnet", c.Key);
            Assert.Equal("module", c.Kind);
            Assert.Equal("model_res.MRCNet", c.ModuleClass);
            Assert.Equal(14_455_421, c.ParameterCount);
            Assert.Contains(info.TopLevel, e => e.Key == "epoch" && e.Kind == "int 3");
        }
        finally
        {
            TensorSets.DisposeAll(fromModule.Values, fromStateDict.Values, auto.Values);
        }
    }

    [SkippableFact]
    public void Potential_weights_hold_the_F_net_state_dict_under_Fnet()
    {
        var sd = CheckpointReader.ReadStateDict(Fixtures.Path("parity", "darcot_losses", "potential_weights.pth"), "Fnet");
        try
        {
            // darcot.md §3: convs at even indices of `features`, biases only on the first six, then fc, fc1, fc2.
            var expectedKeys = new[] { 0, 2, 4, 6, 8, 10 }.SelectMany(i => new[] { $"features.{i}.weight", $"features.{i}.bias" })
                .Concat(new[] { 12, 14, 16, 18 }.Select(i => $"features.{i}.weight"))
                .Concat(new[] { "fc.weight", "fc.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" });
            Assert.Equal(expectedKeys.Order(), sd.Keys.Order());
            Assert.Equal(new long[] { 64, 3, 5, 5 }, sd["features.0.weight"].shape);
            // patch 32: five stride-2 convs leave 512×1×1 = 512 features (patch²/2); fc maps them to patch²/8 = 128
            // (8192 → 2048 at the default patch 128).
            Assert.Equal(new long[] { 128, 512 }, sd["fc.weight"].shape);
            Assert.Equal(new long[] { 1 }, sd["fc2.bias"].shape);
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
    }

    [SkippableFact]
    public void Reference_outputs_safetensors_reads()
    {
        var sd = CheckpointReader.ReadStateDict(Fixtures.Path("parity", "darcot_mrcnet_small", "tensors.safetensors"));
        try
        {
            Assert.Equal(new[] { "input", "output", "residual_embedding" }, sd.Keys.Order());
            Assert.Equal(4, sd["input"].dim());
            Assert.Equal(3, sd["input"].shape[1]);
            Assert.Equal(sd["input"].shape, sd["output"].shape);
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
    }
}
