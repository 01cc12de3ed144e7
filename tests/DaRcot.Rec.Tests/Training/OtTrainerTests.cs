using DaRcot.Rec.Errors;
using DaRcot.Rec.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Training;

[Collection(TrainerCollection.Name)]
public sealed class OtTrainerTests : IDisposable
{
    private readonly ITestOutputHelper output;
    private readonly string dir = Path.Combine(Path.GetTempPath(), "darcot-trainer-" + Guid.NewGuid().ToString("N"));

    public OtTrainerTests(ITestOutputHelper output) => this.output = output;

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private static OtTrainerOptions Options(string? outDir, long maxSteps, int checkpointEvery = 0, OptimizerKind optimizer = OptimizerKind.RMSprop) => new()
    {
        Optimizer = optimizer,
        Epochs = 3,
        LearningRate = 1e-3,
        DecayEvery = 1,                 // the LR changes every epoch: resume must re-derive it
        Mode = PairingMode.PartiallyPaired,
        PairNum = 4,                    // batch 2 → the first 2 iterations of each epoch are paired
        PairedWeight = 10.0,
        MaxSteps = maxSteps,
        OutputDirectory = outDir,
        CheckpointEvery = checkpointEvery,
        Seed = 7,
        WritePlot = false,
    };

    private static List<StepLosses> Run(OtTrainer trainer, ITrainingBatchSource source, List<TrainingProgress>? reports = null)
    {
        var list = new List<StepLosses>();
        trainer.Train(source, new SyncProgress<TrainingProgress>(p =>
        {
            list.Add(p.Losses);
            reports?.Add(p);
        }));
        return list;
    }

    [Theory]
    [InlineData(OptimizerKind.RMSprop)]
    [InlineData(OptimizerKind.Adam)]
    public void Resume_ContinuesExactlyLikeAnUninterruptedRun(OptimizerKind optimizer)
    {
        var source = new RandomBatchSource();
        List<StepLosses> full;
        var reports = new List<TrainingProgress>();
        using (var t = new TinyDenoiser()) using (var p = new TinyCritic()) using (var trainer = new OtTrainer(t, p, Options(null, 5, optimizer: optimizer)))
            full = Run(trainer, source, reports);
        Assert.Equal(5, full.Count);
        // LR = lr·0.1^⌊(epoch−1)/step⌋ with step 1; T gets half of φ's.
        Assert.Equal(new[] { 1e-3, 1e-3, 1e-3, 1e-4, 1e-4 }, reports.Select(r => Math.Round(r.PotentialLearningRate, 12)));
        Assert.Equal(new[] { 5e-4, 5e-4, 5e-4, 5e-5, 5e-5 }, reports.Select(r => Math.Round(r.TransportLearningRate, 12)));
        Assert.All(reports, r => Assert.True(r.ImagesPerSecond > 0));

        using (var t = new TinyDenoiser()) using (var p = new TinyCritic()) using (var trainer = new OtTrainer(t, p, Options(dir, 2, optimizer: optimizer)))
            Run(trainer, source);
        var ckpt = Path.Combine(dir, TrainingCheckpoint.DefaultFileName);
        Assert.Equal(2, TrainingCheckpoint.ReadPosition(ckpt).Step);

        // New objects with different initial weights: everything must come from the checkpoint.
        List<StepLosses> resumed;
        using (var t = new TinyDenoiser(seed: 99)) using (var p = new TinyCritic(seed: 98)) using (var trainer = new OtTrainer(t, p, Options(dir, 5, optimizer: optimizer)))
        {
            trainer.Resume(ckpt);
            resumed = Run(trainer, source);
            Assert.Equal(5, trainer.History.Rows.Count);   // the history of steps 1–2 came back with the checkpoint
        }
        Assert.Equal(3, resumed.Count);
        for (var i = 0; i < 3; i++)
        {
            var a = full[i + 2];
            var b = resumed[i];
            output.WriteLine($"step {a.Step}: full T {a.TransportLoss:R} phi {a.PotentialLoss:R} gp {a.GradientPenalty:R} | resumed T {b.TransportLoss:R} phi {b.PotentialLoss:R} gp {b.GradientPenalty:R}");
            Assert.Equal(a.Step, b.Step);
            Assert.Equal(a.Epoch, b.Epoch);
            Assert.Equal(a.Paired, b.Paired);
            Assert.Equal(a.TransportLoss, b.TransportLoss, 6);
            Assert.Equal(a.PotentialLoss, b.PotentialLoss, 6);
            Assert.Equal(a.GradientPenalty, b.GradientPenalty, 6);
            Assert.Equal(a.Rms, b.Rms, 6);
        }
        // The epoch boundary was crossed (3 batches per epoch) and pairing followed the within-epoch iteration.
        Assert.Equal(new[] { true, true, false, true, true }, full.Select(s => s.Paired));
        Assert.Equal(new[] { 1, 1, 1, 2, 2 }, full.Select(s => s.Epoch));
    }

    [Fact]
    public void NaNInput_IsReportedByTerm_AndTheLastCheckpointIsKept()
    {
        var source = new RandomBatchSource { NaNAt = (1, 2) };
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(dir, 10, checkpointEvery: 1));
        var ckpt = Path.Combine(dir, TrainingCheckpoint.DefaultFileName);
        var e = Assert.Throws<NonFiniteLossException>(() => trainer.Train(source));
        Assert.Equal("potential_loss", e.Term);
        Assert.Equal(3, e.Step);
        Assert.Equal(2, TrainingCheckpoint.ReadPosition(ckpt).Step);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));
        // The checkpoint on disk still loads.
        using var t2 = new TinyDenoiser(seed: 5);
        using var p2 = new TinyCritic(seed: 6);
        using var trainer2 = new OtTrainer(t2, p2, Options(dir, 10));
        trainer2.Resume(ckpt);
        Assert.Equal(2, trainer2.Position.Step);
    }

    [Fact]
    public void Cancellation_StopsBetweenSteps_WithAConsistentCheckpoint()
    {
        var source = new RandomBatchSource();
        using var cts = new CancellationTokenSource();
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(dir, 20));
        var seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => trainer.Train(source, new SyncProgress<TrainingProgress>(pr =>
        {
            seen++;
            if (pr.Losses.Step == 2) cts.Cancel();
        }), cts.Token));
        Assert.Equal(2, seen);
        var ckpt = Path.Combine(dir, TrainingCheckpoint.DefaultFileName);
        var pos = TrainingCheckpoint.ReadPosition(ckpt);
        Assert.Equal(2, pos.Step);
        Assert.Equal(1, pos.Epoch);
        Assert.Equal(2, pos.NextBatch);
        var csv = File.ReadAllLines(Path.Combine(dir, "loss_history.csv"));
        Assert.Equal(3, csv.Length);   // header + 2 steps
    }

    /// <summary>Stops its enumeration with OperationCanceledException when the token is cancelled, as
    /// StreamingBatchSource's prefetching does when it shares the trainer's token.</summary>
    private sealed class TokenObservingSource(ITrainingBatchSource inner, CancellationToken token) : ITrainingBatchSource
    {
        public int BatchesPerEpoch => inner.BatchesPerEpoch;

        public IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch = 0)
        {
            foreach (var batch in inner.GetBatches(epoch, startBatch))
            {
                if (token.IsCancellationRequested)
                {
                    batch.Dispose();
                    token.ThrowIfCancellationRequested();
                }
                yield return batch;
            }
        }
    }

    [Fact]
    public void Cancellation_SeenFirstByTheSource_StillWritesTheCheckpointOfTheCompletedSteps()
    {
        using var cts = new CancellationTokenSource();
        var source = new TokenObservingSource(new RandomBatchSource(), cts.Token);
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(dir, 20) with { CheckpointEvery = 0 });
        Assert.ThrowsAny<OperationCanceledException>(() => trainer.Train(source, new SyncProgress<TrainingProgress>(pr =>
        {
            if (pr.Losses.Step == 2) cts.Cancel();
        }), cts.Token));
        var pos = TrainingCheckpoint.ReadPosition(Path.Combine(dir, TrainingCheckpoint.DefaultFileName));
        Assert.Equal(2, pos.Step);
        Assert.Equal(2, pos.NextBatch);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "loss_history.csv")).Length);
    }

    [Fact]
    public void Steps_DoNotLeakTensors()
    {
        var source = new RandomBatchSource(batchesPerEpoch: 8);
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(null, 8) with { Mode = PairingMode.Paired });
        var live = new List<long>();
        trainer.Train(source, new SyncProgress<TrainingProgress>(_ => live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount)));
        output.WriteLine("live tensors after each step: " + string.Join(", ", live));
        // After the optimizers have created their state (first steps), the live count must stay flat.
        Assert.Equal(live[2], live[^1]);
    }

    [Fact]
    public void Every_step_reports_where_its_time_went()
    {
        var source = new RandomBatchSource(batchesPerEpoch: 4);
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(null, 4));
        var reports = new List<TrainingProgress>();
        Run(trainer, source, reports);
        Assert.Equal(4, reports.Count);
        foreach (var r in reports)
        {
            // Every phase ran, and together they are the step (the loop around them adds only bookkeeping).
            Assert.All(r.Phases.Named(), phase => Assert.True(phase.Seconds > 0, phase.Name));
            Assert.InRange(r.Phases.Total, 0.5 * r.StepSeconds, r.StepSeconds + 1e-9);
        }
        var sum = reports.Skip(1).Aggregate(new StepPhases(), (a, r) => a.Plus(r.Phases));
        Assert.Equal(3, trainer.SteadyTiming.Steps);
        Assert.Equal(sum.TransportBackward, trainer.SteadyTiming.Phases!.TransportBackward, 12);
        Assert.Equal(sum.Total, trainer.SteadyTiming.Phases.Total, 12);
    }

    [Fact]
    public void UnpairedMode_FeedsThePotentialTargetsOfAnotherBatch()
    {
        var source = new RandomBatchSource(batchesPerEpoch: 4);
        using var t = new TinyDenoiser();
        using var probe = new ProbeCritic();
        using var trainer = new OtTrainer(t, probe, Options(null, 2) with { Mode = PairingMode.Unpaired });
        trainer.Train(source);
        // Step 1 (batch 0) must see the targets of batch 2 (= 0 + 4/2) as "real" samples.
        using var batches = new DisposableList(source.GetBatches(1).ToList());
        var firstReal = probe.Seen[0];
        Assert.True(firstReal.allclose(batches.Items[2].Target), "the potential's real samples are batch 2's targets");
        Assert.False(firstReal.allclose(batches.Items[0].Target));
        foreach (var s in probe.Seen) s.Dispose();
    }

    [Theory]
    [InlineData(PairingMode.Paired)]
    [InlineData(PairingMode.PartiallyPaired)]
    public void DecorrelatedSource_WithAPairedMode_IsRefusedNamingMode(PairingMode mode)
    {
        var source = new CountingSource(new RandomBatchSource()) { Decorrelated = true };
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(null, 2) with { Mode = mode });
        var e = Assert.Throws<TrainingConfigException>(() => trainer.Train(source));
        Assert.Equal("mode", e.Field);
        Assert.Contains(mode.ToString(), e.Message);
        Assert.Equal(0, source.Enumerations);       // refused before any batch was built
        Assert.Equal(0, trainer.Position.Step);
    }

    [Fact]
    public void DecorrelatedSource_InUnpairedMode_IsUsedAsIs()
    {
        var source = new CountingSource(new RandomBatchSource(batchesPerEpoch: 4)) { Decorrelated = true };
        using var t = new TinyDenoiser();
        using var probe = new ProbeCritic();
        using var trainer = new OtTrainer(t, probe, Options(null, 2) with { Mode = PairingMode.Unpaired });
        trainer.Train(source);
        Assert.Equal(1, source.Enumerations);      // no second (shifted) enumeration
        using var batches = new DisposableList(source.Inner.GetBatches(1).ToList());
        Assert.True(probe.Seen[0].allclose(batches.Items[0].Target), "step 1 sees batch 0's own (already unpaired) targets");
        Assert.True(probe.Seen[1].allclose(batches.Items[1].Target));
        foreach (var s in probe.Seen) s.Dispose();
    }

    [Fact]
    public void UnpairedMode_SingleBatchEpochs_RollTheBatchWithoutReEnumerating()
    {
        var source = new CountingSource(new RandomBatchSource(batchesPerEpoch: 1, batchSize: 3));
        using var t = new TinyDenoiser();
        using var probe = new ProbeCritic();
        using var trainer = new OtTrainer(t, probe, Options(null, 3) with { Mode = PairingMode.Unpaired });
        trainer.Train(source);
        Assert.Equal(3, source.Enumerations);      // one per epoch, none per step for the targets
        for (var epoch = 1; epoch <= 3; epoch++)
        {
            using var batch = source.Inner.GetBatches(epoch).Single();
            var seen = probe.Seen[epoch - 1];
            // Rolled by one sample: real sample i is target i−1 (mod 3).
            Assert.True(seen[0].allclose(batch.Target[2]), $"epoch {epoch}: sample 0 ← target 2");
            Assert.True(seen[1].allclose(batch.Target[0]), $"epoch {epoch}: sample 1 ← target 0");
            Assert.True(seen[2].allclose(batch.Target[1]), $"epoch {epoch}: sample 2 ← target 1");
        }
        foreach (var s in probe.Seen) s.Dispose();
    }

    [Theory]
    [InlineData(null, 5e-4)]      // official: T gets half of φ's learning rate (1e-3)
    [InlineData(0.2, 2e-4)]
    public void TransportLearningRateRatio_SetsTheTransportOptimizersStep(double? ratio, double expectedLrT)
    {
        var options = Options(null, 1) with { Mode = PairingMode.Paired };
        if (ratio is double r) options = options with { TransportLearningRateRatio = r };
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        var before = t.parameters().Select(q => q.detach().clone()).ToList();
        using var trainer = new OtTrainer(t, p, options);
        var reports = new List<TrainingProgress>();
        Run(trainer, new RandomBatchSource(), reports);
        Assert.Equal(expectedLrT, reports.Single().TransportLearningRate, 12);
        // RMSprop's first step (square average starts at 0, alpha 0.99): v = 0.01·g², so the update is
        // lr·g / (0.1·|g| + 1e-8) ≈ 10·lr·sign(g) for every weight with a gradient well above 1e-7: the largest
        // change of any T parameter is 10·lr(T).
        var maxChange = t.parameters().Zip(before, (a, b) => (a.detach() - b).abs().max().item<float>()).Max();
        output.WriteLine($"max |Δθ_T| after one step = {maxChange:R} (expected {10 * expectedLrT:R})");
        Assert.Equal(10 * expectedLrT, maxChange, 10 * expectedLrT * 1e-3);
        foreach (var b in before) b.Dispose();
    }

    [Fact]
    public void TransportLearningRateRatio_IsValidated()
    {
        var o = new OtTrainerOptions();
        Assert.Equal(0.5, o.TransportLearningRateRatio);
        Assert.Equal("lr_transport_ratio", Assert.Throws<TrainingConfigException>(() => (o with { TransportLearningRateRatio = 0 }).Validate()).Field);
        Assert.Equal("lr_transport_ratio", Assert.Throws<TrainingConfigException>(() => (o with { TransportLearningRateRatio = double.NaN }).Validate()).Field);
        Assert.Equal(2.5e-5, (o with { TransportLearningRateRatio = 0.25 }).TransportLearningRate(1), 15);
    }

    [Fact]
    public void Options_AreValidated_AndLearningRatesFollowTheOfficialSchedule()
    {
        var o = new OtTrainerOptions { LearningRate = 1e-4, DecayEvery = 15 };
        Assert.Equal(1e-4, o.PotentialLearningRate(1), 12);
        Assert.Equal(1e-4, o.PotentialLearningRate(15), 12);
        Assert.Equal(1e-5, o.PotentialLearningRate(16), 12);
        Assert.Equal(5e-7, o.TransportLearningRate(31), 12);
        Assert.Throws<TrainingConfigException>(() => (o with { Epochs = 0 }).Validate());
        Assert.Throws<TrainingConfigException>(() => (o with { LearningRate = -1 }).Validate());
    }

    /// <summary>Wraps a source, counts how often it is enumerated and can claim decorrelated targets.</summary>
    private sealed class CountingSource : ITrainingBatchSource
    {
        public CountingSource(ITrainingBatchSource inner) => Inner = inner;

        public ITrainingBatchSource Inner { get; }

        public bool Decorrelated { get; init; }

        public int Enumerations { get; private set; }

        public int BatchesPerEpoch => Inner.BatchesPerEpoch;

        public bool TargetsDecorrelated => Decorrelated;

        public IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch = 0)
        {
            Enumerations++;
            return Inner.GetBatches(epoch, startBatch);
        }
    }

    private sealed class DisposableList : IDisposable
    {
        public DisposableList(List<TrainingBatch> items) => Items = items;

        public List<TrainingBatch> Items { get; }

        public void Dispose()
        {
            foreach (var b in Items) b.Dispose();
        }
    }

    /// <summary>A critic that records the first input of each potential step (the "real" samples).</summary>
    private sealed class ProbeCritic : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Linear fc;
        private int calls;

        public ProbeCritic() : base("probe")
        {
            fc = nn.Linear(3, 1);
            RegisterComponents();
        }

        public List<Tensor> Seen { get; } = new();

        public override Tensor forward(Tensor x)
        {
            // Call order per step: φ(real), φ(fake), φ(interpolated) [GP], φ(T(x)) [T step].
            if (calls++ % 4 == 0) Seen.Add(x.detach().clone().DetachFromDisposeScope());
            return fc.call(x.mean(new long[] { 2, 3 })).reshape(-1);
        }
    }
}

/// <summary>IProgress that reports synchronously on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SyncProgress<T> : IProgress<T>
{
    private readonly Action<T> action;

    public SyncProgress(Action<T> action) => this.action = action;

    public void Report(T value) => action(value);
}
