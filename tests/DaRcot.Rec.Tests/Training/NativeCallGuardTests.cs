using System.Runtime;
using DaRcot.Rec.Training;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Training;

/// <summary>The no-GC guard reports when the runtime ended its region early, and the trainer logs that once per run.
/// In the trainer collection: the region is process-wide, so nothing may run beside these tests.</summary>
[Collection(TrainerCollection.Name)]
public sealed class NativeCallGuardTests
{
    [Fact]
    public void Run_ReportsALapse_OnlyWhenTheRegionEndedEarly()
    {
        var lapses = 0;
        // An induced collection ends a no-GC region (documented runtime behaviour): the guard must notice.
        var inside = NativeCallGuard.Run(true, () =>
        {
            var mode = GCSettings.LatencyMode;
            GC.Collect();
            return mode;
        }, () => lapses++);
        Assert.Equal(GCLatencyMode.NoGCRegion, inside);   // the step did start guarded
        Assert.Equal(1, lapses);
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);

        // A small step stays inside its budget: no report, and the region is closed afterwards.
        Assert.Equal(42, NativeCallGuard.Run(true, () => 42, () => lapses++));
        Assert.Equal(1, lapses);
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);

        // Disabled: never a report.
        NativeCallGuard.Run(false, () => { GC.Collect(); return 0; }, () => lapses++);
        Assert.Equal(1, lapses);
    }

    [Fact]
    public void Trainer_LogsOneWarningPerRun_WhenStepsLoseTheGuard()
    {
        using var t = new CollectingTransport();
        using var p = new TinyCritic();
        var logger = new ListLogger();
        var options = new OtTrainerOptions { Epochs = 1, LearningRate = 1e-3, Mode = PairingMode.UnpairedOfficial, WritePlot = false, Seed = 5 };
        using var trainer = new OtTrainer(t, p, options, logger);
        trainer.Train(new RandomBatchSource(batchesPerEpoch: 3));
        Assert.Equal(3, trainer.Position.Step);
        var warning = Assert.Single(logger.Warnings);    // every step lapsed, one line
        Assert.Contains("no-GC region", warning);
        Assert.Contains("Step 1", warning);

        // A guarded run whose steps stay within budget logs nothing.
        using var t2 = new TinyDenoiser();
        using var p2 = new TinyCritic();
        var quiet = new ListLogger();
        using var trainer2 = new OtTrainer(t2, p2, options, quiet);
        trainer2.Train(new RandomBatchSource(batchesPerEpoch: 3));
        Assert.Empty(quiet.Warnings);
    }

    /// <summary>A transport whose forward pass induces a collection, which ends the step's no-GC region.</summary>
    private sealed class CollectingTransport : nn.Module<Tensor, Tensor>
    {
        private readonly TinyDenoiser inner;

        public CollectingTransport() : base("collecting")
        {
            inner = new TinyDenoiser();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            GC.Collect();
            return inner.call(x);
        }
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Warnings { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning) Warnings.Add(formatter(state, exception));
        }
    }
}
