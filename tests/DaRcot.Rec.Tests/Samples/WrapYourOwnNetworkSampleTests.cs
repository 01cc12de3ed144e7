using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Conditioning;
using TorchSharp;
using WrapYourOwnNetwork;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Samples;

/// <summary>Runs the core of <c>samples/WrapYourOwnNetwork</c> for a few steps so that the sample cannot rot.</summary>
public sealed class WrapYourOwnNetworkSampleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-wrap-sample-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Three_steps_train_evaluate_and_save_weights_that_load_back_strictly()
    {
        var path = Path.Combine(_dir, "wrapped.safetensors");
        var lines = new List<string>();
        var result = RecTrainingDemo.Run(new DemoOptions { Steps = 3, Batch = 2, PatchSize = 32, WeightsPath = path }, lines.Add);

        Assert.Equal(3, result.Losses.Count);
        Assert.All(result.Losses, l => Assert.True(double.IsFinite(l) && l > 0, $"loss {l}"));
        Assert.Contains(lines, l => l.StartsWith("step   3: loss", StringComparison.Ordinal));
        // σ = 25/255 Gaussian noise: PSNR = 20·log10(255/25) ≈ 20.17 dB; 2048 pixels per channel of the sample
        // (and clamping to [0,1]) move it a little.
        Assert.InRange(result.NoisyPsnr, 19.2, 21.2);
        Assert.True(double.IsFinite(result.PsnrBefore) && double.IsFinite(result.PsnrAfter));

        // The saved file holds the backbone under backbone.*, and the REC parts under regm.* and cond.*.
        Assert.True(File.Exists(path));
        Assert.Contains("backbone.head.weight", result.StateDictKeys);
        Assert.Contains(result.StateDictKeys, k => k.StartsWith("regm.", StringComparison.Ordinal));
        Assert.Contains(result.StateDictKeys, k => k.StartsWith("cond.", StringComparison.Ordinal));
        using var fresh = ResidualConditionedMap.Create(new TinyUNet(width: 16), new RecOptions
        {
            Regm = new RegmOptions { Width = 8, Blocks = [1, 1, 1, 1], Heads = [1, 1, 2, 2] },
        });
        var report = StateDictLoader.LoadFile(fresh, path, strict: true);
        Assert.True(report.IsExact);
        Assert.Equal(result.StateDictKeys.Count, report.Loaded);
    }

    [Fact]
    public void Zero_init_wrapping_leaves_the_custom_network_unchanged_at_first()
    {
        // The sample's central claim: wrapped with the zero-initialised injector, the network computes exactly
        // what it computed alone (pass 2 = pass 1) until training moves the projections.
        using var scope = NewDisposeScope();
        var net = new TinyUNet(width: 8);
        using var wrapped = ResidualConditionedMap.Create(net, new RecOptions
        {
            Injector = InjectorKind.ZeroInitProjection,
            Regm = new RegmOptions { Width = 8, Blocks = [1, 1, 1, 1], Heads = [1, 1, 2, 2] },
        });
        Assert.Equal(3, wrapped.ConditionedPoints.Count);
        using var _ = no_grad();
        var x = rand(1, 3, 16, 24);
        var alone = net.call(x);
        var rec = wrapped.call(x);
        Assert.Equal(alone.shape, rec.shape);
        Assert.Equal(0.0, (alone - rec).abs().max().ToDouble());
    }
}
