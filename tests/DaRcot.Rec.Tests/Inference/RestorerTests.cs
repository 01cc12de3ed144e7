using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Inference;

public class RestorerTests
{
    /// <summary>Returns its input unchanged and keeps a copy of what it received.</summary>
    private sealed class Recorder : nn.Module<Tensor, Tensor>
    {
        public Tensor? Seen { get; private set; }
        public Recorder() : base(nameof(Recorder)) { }
        public override Tensor forward(Tensor x)
        {
            Seen?.Dispose();
            Seen = x.detach().clone().DetachFromDisposeScope();
            return x.clone();
        }
    }

    /// <summary>A model with an extra output at 1/8 scale, like DA-RCOT's residual embedding.</summary>
    private sealed class Named : nn.Module<Tensor, Tensor>, INamedOutputs
    {
        public Named() : base(nameof(Named)) { }
        public override Tensor forward(Tensor x) => x + 1;
        public IReadOnlyDictionary<string, Tensor> ForwardNamed(Tensor x) => new Dictionary<string, Tensor>
        {
            [INamedOutputs.Final] = forward(x),
            ["embedding"] = nn.functional.avg_pool2d(x, 8),
        };
    }

    private static ArchInfo Info(int multiple, PadMode mode, long channels = 3) => new("test", multiple, mode, null, channels, channels, new object());

    [Fact]
    public void Pads_with_the_arch_convention_and_crops_back()
    {
        using var model = new Recorder();
        using var restorer = new Restorer(model, Info(8, PadMode.Reflect));
        using var x = rand(1, 3, 13, 21, generator: new Generator(11));
        using var y = restorer.Restore(x);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(0, (y - x).abs().max().item<float>());
        var seen = model.Seen!;
        Assert.Equal(new long[] { 1, 3, 16, 24 }, seen.shape);
        // Reflect: padded row 13 is row 11, padded column 21 is column 19.
        Assert.Equal(0, (seen[.., .., 13, ..21] - x[.., .., 11, ..]).abs().max().item<float>());
        Assert.Equal(0, (seen[.., .., ..13, 21] - x[.., .., .., 19]).abs().max().item<float>());

        // CHW in → CHW out.
        using var chw = restorer.Restore(x[0]);
        Assert.Equal(new long[] { 3, 13, 21 }, chw.shape);
    }

    [Fact]
    public void Returns_every_named_output_cropped_at_its_scale_also_when_tiled()
    {
        using var model = new Named();
        using var x = rand(2, 3, 13, 21, generator: new Generator(12));
        using (var restorer = new Restorer(model, Info(8, PadMode.Replicate)))
        {
            var outputs = restorer.RestoreNamed(x);
            Assert.Equal(x.shape, outputs[INamedOutputs.Final].shape);
            Assert.Equal(0, (outputs[INamedOutputs.Final] - (x + 1)).abs().max().item<float>(), 6);
            Assert.Equal(new long[] { 2, 3, 2, 3 }, outputs["embedding"].shape); // ⌈13/8⌉×⌈21/8⌉
            foreach (var t in outputs.Values) t.Dispose();
        }
        using var tiled = new Restorer(new Named(), Info(8, PadMode.Replicate), new RestorerOptions { TileSize = 8, TileOverlap = 0 }, ownsModel: true);
        var reports = new List<TileProgress>();
        var tiledOut = tiled.RestoreNamed(x, new InlineProgress<TileProgress>(reports.Add));
        Assert.Equal(0, (tiledOut[INamedOutputs.Final] - (x + 1)).abs().max().item<float>(), 6);
        Assert.Equal(new long[] { 2, 3, 2, 3 }, tiledOut["embedding"].shape);
        Assert.Equal(new TileProgress(6, 6), reports[^1]); // padded 16×24 in 8×8 tiles
    }

    [Fact]
    public void Refuses_wrong_channels_unknown_devices_and_bad_tiles()
    {
        using var model = new Recorder();
        using var restorer = new Restorer(model, Info(8, PadMode.Reflect));
        Assert.Throws<TensorArgumentException>(() => restorer.Restore(zeros(1, 1, 8, 8)));
        // The test project references the CPU build of libtorch only.
        var e = Assert.Throws<DeviceUnavailableException>(() => new Restorer(new Recorder(), Info(8, PadMode.Reflect), new RestorerOptions { Device = "cuda" }));
        Assert.Contains("CUDA", e.Message);
        Assert.Throws<DeviceUnavailableException>(() => Restorer.ResolveDevice("tpu"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Restorer(new Recorder(), Info(8, PadMode.Reflect), new RestorerOptions { TileSize = 12 }));
    }

    [SkippableFact]
    public void Loads_official_weights_and_reproduces_the_reference_on_any_batch()
    {
        var c = ParityCase.Load("restormer_tiny_biasfree");
        using var restorer = Restorer.Load("restormer", c.ConfigJson, c.WeightsPath);
        var tensors = SafetensorsFile.Read(c.TensorsPath);
        try
        {
            using var y = restorer.Restore(tensors["input"]);
            Assert.True((y - tensors["output"]).abs().max().item<float>() <= c.AbsTol);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        // Weights of another architecture: the typed mismatch error.
        var nafnet = ParityCase.Load("nafnet_tiny");
        Assert.Throws<StateDictMismatchException>(() => Restorer.Load("restormer", c.ConfigJson, nafnet.WeightsPath));
        Assert.Throws<CheckpointFormatException>(() => Restorer.Load("restormer", c.ConfigJson, c.WeightsPath + ".missing"));
    }
}
