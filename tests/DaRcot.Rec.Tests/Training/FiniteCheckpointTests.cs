using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Training;

/// <summary>
/// A finite loss with a NaN gradient (what the defective libtorch kernels produced) used to be written into the weights
/// and then into the "last good" checkpoint. Now the step stops before the optimizer, and no checkpoint is ever written
/// from non-finite weights or optimizer state, so <c>--resume</c> from the last checkpoint works.
/// </summary>
[Collection(TrainerCollection.Name)]
public sealed class FiniteCheckpointTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "darcot-finite-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private OtTrainerOptions Options(long maxSteps) => new()
    {
        Epochs = 10,
        LearningRate = 1e-3,
        PairedWeight = 10.0,
        MaxSteps = maxSteps,
        OutputDirectory = dir,
        CheckpointEvery = 1,
        Seed = 7,
        WritePlot = false,
    };

    /// <summary>The tiny denoiser plus a term that is exactly zero in value but has a NaN gradient from a chosen step
    /// on: 0·√|w − w| adds 0 forward, and 0·∞ = NaN backward (so the loss stays finite).</summary>
    private sealed class NaNGradientDenoiser : nn.Module<Tensor, Tensor>, IRecModel
    {
        private readonly TinyDenoiser inner;
        private readonly Parameter trap;

        public NaNGradientDenoiser(long seed) : base(nameof(NaNGradientDenoiser))
        {
            inner = new TinyDenoiser(seed: seed);
            trap = new Parameter(ones(1));
            RegisterComponents();
        }

        public int Calls { get; private set; }

        public int PoisonFromCall { get; set; } = int.MaxValue;

        public override Tensor forward(Tensor x) => ForwardRec(x).Output;

        public RecOutput ForwardRec(Tensor x, bool keepIntermediates = false)
        {
            var rec = inner.ForwardRec(x, keepIntermediates);
            if (!is_grad_enabled() || ++Calls < PoisonFromCall) return rec;
            var zero = trap.sub(trap.detach()).abs().sqrt().mul(0.0);
            return new RecOutput { Output = rec.Output.add(zero), DenseEmbedding = rec.DenseEmbedding };
        }
    }

    [Fact]
    public void A_NaN_gradient_is_stopped_before_the_weights_and_the_last_checkpoint_resumes()
    {
        var source = new RandomBatchSource();
        var ckpt = Path.Combine(dir, TrainingCheckpoint.DefaultFileName);
        using (var t = new NaNGradientDenoiser(1) { PoisonFromCall = 3 })
        using (var p = new TinyCritic())
        using (var trainer = new OtTrainer(t, p, Options(10)))
        {
            var e = Assert.Throws<NonFiniteStateException>(() => trainer.Train(source));
            Assert.Equal(3, e.Step);
            Assert.Equal("trap", e.TensorName);
            Assert.Contains("gradient of the transport network", e.Message);
            // Nothing NaN reached the weights.
            Assert.Null(FiniteState.FirstNonFiniteParameter(t));
        }
        Assert.Equal(2, TrainingCheckpoint.ReadPosition(ckpt).Step);

        using var t2 = new NaNGradientDenoiser(9);
        using var p2 = new TinyCritic(seed: 8);
        using var resumed = new OtTrainer(t2, p2, Options(6));
        resumed.Resume(ckpt);
        var history = resumed.Train(source);
        Assert.Equal(6, history.Rows.Count);
        Assert.All(history.Rows, r => Assert.True(double.IsFinite(r.TransportLoss) && double.IsFinite(r.PotentialLoss)));
    }

    [Fact]
    public void A_checkpoint_is_never_written_from_non_finite_weights_and_the_previous_one_stays()
    {
        var source = new RandomBatchSource();
        var ckpt = Path.Combine(dir, TrainingCheckpoint.DefaultFileName);
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(2));
        trainer.Train(source);
        var before = File.ReadAllBytes(ckpt);

        using (no_grad()) t.parameters().Last()[0] = float.PositiveInfinity;
        var e = Assert.Throws<NonFiniteStateException>(() => trainer.SaveCheckpoint());
        Assert.Contains("weight of the transport network", e.Message);
        Assert.Equal("tail.bias", e.TensorName);
        Assert.Equal(before, File.ReadAllBytes(ckpt));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Optimizer_state_is_checked_too()
    {
        using var t = new TinyDenoiser();
        using var optimizer = optim.RMSProp(t.parameters(), 1e-3);
        Assert.Null(FiniteState.FirstNonFiniteOptimizerState(optimizer));
        foreach (var param in t.parameters()) param.grad = ones_like(param);
        optimizer.step();
        Assert.Null(FiniteState.FirstNonFiniteOptimizerState(optimizer));
        var state = (RMSProp.State)optimizer.state_dict().State[1];
        state.square_avg[0] = float.NaN;
        Assert.Equal("state[1].square_avg", FiniteState.FirstNonFiniteOptimizerState(optimizer));
    }
}
