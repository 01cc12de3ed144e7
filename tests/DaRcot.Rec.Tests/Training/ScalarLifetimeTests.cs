using System.Text.Json;
using System.Text.Json.Serialization;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Models;
using DaRcot.Rec.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Training;

/// <summary>Training needs no GC pause: the library keeps every native Scalar alive across its native calls (see
/// <c>DaRcot.Rec.Numerics.Scalars</c>). In the trainer collection: one test forces collections on purpose.</summary>
[Collection(TrainerCollection.Name)]
public sealed class ScalarLifetimeTests
{
    private static OtTrainerOptions Options(OptimizerKind optimizer) => new()
    {
        Optimizer = optimizer, Epochs = 1, LearningRate = 1e-3, Mode = PairingMode.Paired, MaxSteps = 30, Seed = 9, WritePlot = false,
    };

    private static List<StepLosses> Train(OptimizerKind optimizer)
    {
        // A library model, so that its forward and backward run too; the collection runs alone, so the global seed
        // gives both runs the same initial weights.
        manual_seed(7);
        using var t = RecModels.NAFNetRec(new NAFNetConfig { Width = 4, MiddleBlkNum = 1, EncBlkNums = [1, 1], DecBlkNums = [1, 1] },
            new RecOptions { Injector = InjectorKind.ScaledAdditionFusion, Regm = new RegmOptions { Width = 2, Blocks = [1, 1, 1, 1] } });
        using var p = new TinyCritic();
        using var trainer = new OtTrainer(t, p, Options(optimizer));
        return trainer.Train(new RandomBatchSource(batchesPerEpoch: 30)).Rows.ToList();
    }

    [Theory]
    [InlineData(OptimizerKind.RMSprop)]
    [InlineData(OptimizerKind.Adam)]
    public void Training_WhileAnotherThreadForcesCollections_GivesTheLossesOfAQuietRun(OptimizerKind optimizer)
    {
        var quiet = Train(optimizer);

        // Before the fix, this failed in most runs ("Expected false to be true" from a freed Scalar, within a few
        // dozen steps) unless each step ran in a no-GC region.
        var stop = 0;
        var collections = 0;
        var collector = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                GC.Collect();
                collections++;
            }
        }) { IsBackground = true };
        collector.Start();
        List<StepLosses> stressed;
        try
        {
            stressed = Train(optimizer);
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            collector.Join();
        }

        Assert.True(collections > 100, $"only {collections} collections ran during training");
        Assert.Equal(quiet.Count, stressed.Count);
        for (var i = 0; i < quiet.Count; i++)
        {
            Assert.Equal(quiet[i].PotentialLoss, stressed[i].PotentialLoss);
            Assert.Equal(quiet[i].GradientPenalty, stressed[i].GradientPenalty);
            Assert.Equal(quiet[i].TransportLoss, stressed[i].TransportLoss);
        }
    }

    [Fact]
    public void AConfigurationThatSetsTheRemovedGuard_StillLoads_AndTheTrainerSaysItIsIgnored()
    {
        // Strict, as `darcot train` reads its configuration.
        var strict = new JsonSerializerOptions { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };
        var old = JsonSerializer.Deserialize<OtTrainerOptions>("""{ "epochs": 1, "lr": 0.001, "guard_native_calls": true, "plot": false }""", strict)!;
        var logger = new ListLogger();
        using (var t = new TinyDenoiser()) using (var p = new TinyCritic()) using (new OtTrainer(t, p, old, logger)) { }
        Assert.Contains(logger.Information, m => m.Contains("guard_native_calls is ignored", StringComparison.Ordinal));

        // Not set: nothing said, and options written (e.g. into checkpoints) no longer mention it.
        var current = JsonSerializer.Deserialize<OtTrainerOptions>("""{ "epochs": 1, "lr": 0.001, "plot": false }""", strict)!;
        var quiet = new ListLogger();
        using (var t = new TinyDenoiser()) using (var p = new TinyCritic()) using (new OtTrainer(t, p, current, quiet)) { }
        Assert.DoesNotContain(quiet.Information, m => m.Contains("guard_native_calls", StringComparison.Ordinal));
        Assert.DoesNotContain("guard_native_calls", JsonSerializer.Serialize(current), StringComparison.Ordinal);
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Information { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Information) Information.Add(formatter(state, exception));
        }
    }
}
