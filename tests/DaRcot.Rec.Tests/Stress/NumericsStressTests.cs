using DaRcot.Rec.Models;
using DaRcot.Rec.Runtime;
using DaRcot.Rec.Tests.Infrastructure;
using DaRcot.Rec.Tests.Training;
using DaRcot.Rec.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Stress;

/// <summary>Tiny configurations of every model family, as the factory builds them.</summary>
internal static class TinyModels
{
    public static readonly (string Arch, string Config)[] All =
    [
        ("restormer", """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}"""),
        ("nafnet", """{"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1, 1], "dec_blk_nums": [1, 1, 1, 1]}"""),
        ("mprnet", """{"n_feat": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4, "num_cab": 1}"""),
        ("darcot", """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}"""),
        ("nafnet-rec", """{"backbone": {"width": 8, "enc_blk_nums": [1, 1, 1], "dec_blk_nums": [1, 1, 1]}, "rec": {"regm_width": 8, "regm_blocks": [1, 1, 1, 1]}}"""),
    ];

    public static TheoryData<string, string> Data()
    {
        var data = new TheoryData<string, string>();
        foreach (var (arch, config) in All) data.Add(arch, config);
        return data;
    }
}

/// <summary>
/// The symptom users saw before the convolution guard: NaN or wildly wrong values turning up in some passes (the
/// defective kernels misbehave "sometimes"). Many fresh passes at libtorch's multi-threaded setting must all be finite.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class ForwardBackwardStressTests(ITestOutputHelper log)
{
    [Theory]
    [MemberData(nameof(TinyModels.Data), MemberType = typeof(TinyModels))]
    public void Two_hundred_fresh_forward_backward_passes_stay_finite(string arch, string config)
    {
        using var _t = TorchThreads.Use(2);
        var (model, _) = ModelFactory.Create(arch, config);
        using var _m = model;
        var parameters = model.parameters().ToArray();
        using var generator = new Generator(11);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (var pass = 0; pass < 200; pass++)
        {
            using var scope = NewDisposeScope();
            foreach (var p in parameters) p.grad?.zero_();
            var x = rand([2, 3, 24, 24], generator: generator);
            var y = model.forward(x);
            y.sub(x).abs().mean().backward();
            Assert.True(y.isfinite().all().item<bool>(), $"{arch}: non-finite output in pass {pass}");
            foreach (var p in parameters)
                if (p.grad is { } g) Assert.True(g.isfinite().all().item<bool>(), $"{arch}: non-finite gradient in pass {pass}");
        }
        log.WriteLine($"{arch}: 200 passes in {sw.Elapsed.TotalSeconds:F1} s");
    }
}

/// <summary>
/// 300 steps of the full OT game (transport step, W-loss step and gradient-penalty step with second derivatives) on tiny
/// DA-RCOT, NAFNet and MPRNet at the official learning rates: before the fix these stopped with a NaN potential loss.
/// </summary>
[Collection(TrainerCollection.Name)]
public class OtTrainingStressTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("darcot", """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}""")]
    [InlineData("nafnet", """{"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1, 1], "dec_blk_nums": [1, 1, 1, 1]}""")]
    [InlineData("mprnet", """{"n_feat": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4, "num_cab": 1}""")]
    public void Three_hundred_OT_steps_have_only_finite_losses(string arch, string config)
    {
        using var _t = TorchThreads.Use(2);
        var (transport, _) = ModelFactory.Create(arch, config);
        using var _m = transport;
        using var critic = new SmallCritic();
        var options = new OtTrainerOptions
        {
            Epochs = 100,
            Mode = PairingMode.PartiallyPaired,
            PairNum = 4, // per epoch: 2 paired iterations of batch 2, then unpaired ones
            MaxSteps = 300,
            Seed = 3,
            WritePlot = false,
        };
        using var trainer = new OtTrainer(transport, critic, options);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var history = trainer.Train(new RandomBatchSource(batchesPerEpoch: 4, batchSize: 2, size: 24));
        Assert.Equal(300, history.Rows.Count);
        foreach (var row in history.Rows)
            Assert.True(double.IsFinite(row.TransportLoss) && double.IsFinite(row.PotentialLoss) && double.IsFinite(row.GradientPenalty),
                $"{arch}: non-finite loss at step {row.Step}");
        log.WriteLine($"{arch}: 300 OT steps in {sw.Elapsed.TotalSeconds:F1} s; last transport loss {history.Rows[^1].TransportLoss:G4}");
    }

    /// <summary>A small potential network built from the library's verified convolutions (the default critic is the
    /// official 30 M-parameter trunk, far too slow for a test).</summary>
    private sealed class SmallCritic : nn.Module<Tensor, Tensor>
    {
        private readonly VerifiedConv2d c1 = VerifiedConv2d.Create(3, 16, 4, stride: 2, padding: 1);
        private readonly VerifiedConv2d c2 = VerifiedConv2d.Create(16, 32, 4, stride: 2, padding: 1);
        private readonly TorchSharp.Modules.Linear fc = nn.Linear(32, 1);

        public SmallCritic() : base(nameof(SmallCritic))
        {
            RegisterComponents();
            TestInit.Reset(this, 5);
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.leaky_relu(c1.call(x), 0.2);
            h = nn.functional.leaky_relu(c2.call(h), 0.2).mean([2L, 3L]);
            return fc.call(h).MoveToOuterDisposeScope();
        }
    }
}

/// <summary>A released configuration at a realistic size and libtorch's multi-threaded default: NAFNet-GoPro-width32
/// killed the process with SIGFPE at 128² on 2 threads on this project's machine (the official TorchScript graph too).</summary>
[Collection(ThreadCountCollection.Name)]
public class ReleasedConfigurationTests(ITestOutputHelper log)
{
    [Fact]
    public void NAFNet_GoPro_width32_restores_a_256_pixel_image_with_two_threads()
    {
        using var _t = TorchThreads.Use(2);
        var (model, _) = ModelFactory.Create("nafnet", """{"width": 32, "enc_blk_nums": [1, 1, 1, 28], "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]}""");
        using var _m = model;
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator(4);
        var x = rand([1, 3, 256, 256], generator: generator);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var y = model.forward(x);
        log.WriteLine($"NAFNet-GoPro-width32 256×256 @ 2 threads: {sw.ElapsedMilliseconds} ms");
        Assert.Equal(x.shape, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
        // Fresh NAFBlocks are the identity (β = γ = 0), so the output is the input plus the ending conv of the features.
        Assert.True(y.sub(x).abs().max().item<float>() > 0);
    }
}
