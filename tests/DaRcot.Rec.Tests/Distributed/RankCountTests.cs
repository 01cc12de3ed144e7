using DaRcot.Rec.Errors;
using DaRcot.Rec.Tests.Training;
using DaRcot.Rec.Training;
using DaRcot.Rec.Training.Distributed;

namespace DaRcot.Rec.Tests.Distributed;

/// <summary>A data-parallel trainer refuses a rank count that does not divide the global batch: at construction (the
/// configured batch) and on resume (the batch recorded in the checkpoint), before any collective call, so no rank
/// waits for another.</summary>
[Collection(TrainerCollection.Name)]
public sealed class RankCountTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("darcot-ranks-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static OtTrainerOptions Options(string? output, int batch) => new()
    {
        Epochs = 1, MaxSteps = 1, Mode = PairingMode.Paired, BatchSize = batch, OutputDirectory = output, WritePlot = false,
    };

    [Fact]
    public void The_configured_global_batch_must_divide_by_the_ranks()
    {
        using var t = new TinyDenoiser();
        using var p = new TinyCritic();
        var e = Assert.Throws<RankCountException>(() => new OtTrainer(t, p, Options(null, 4), communicator: new NoCollectives(0, 3)));
        Assert.Equal((3, 4), (e.Ranks, e.GlobalBatch));
        using var ok = new OtTrainer(t, p, Options(null, 4), communicator: new NoCollectives(1, 2));
        Assert.Equal(1, ok.Communicator.Rank);
    }

    [Fact]
    public void Resuming_on_a_rank_count_that_does_not_divide_the_checkpoint_batch_is_refused()
    {
        using (var t = new TinyDenoiser())
        using (var p = new TinyCritic())
        using (var trainer = new OtTrainer(t, p, Options(dir, 0)))
            trainer.Train(new RandomBatchSource(batchSize: 4));
        var checkpoint = Path.Combine(dir, TrainingCheckpoint.DefaultFileName);
        Assert.Equal(4, TrainingCheckpoint.ReadPosition(checkpoint).NominalBatchSize);

        using var t2 = new TinyDenoiser();
        using var p2 = new TinyCritic();
        // batch_size 0: the global batch is the checkpoint's.
        using var resumed = new OtTrainer(t2, p2, Options(dir, 0) with { MaxSteps = 2 }, communicator: new NoCollectives(0, 3));
        resumed.Resume(checkpoint);
        var e = Assert.Throws<RankCountException>(() => resumed.Train(new ShardedBatchSource(new RandomBatchSource(batchSize: 4), 0, 3)));
        Assert.Equal((3, 4), (e.Ranks, e.GlobalBatch));
        Assert.Equal(1, TrainingCheckpoint.ReadPosition(checkpoint).Step);   // nothing written
    }

    /// <summary>A rank of a job whose collectives must not be reached.</summary>
    private sealed class NoCollectives(int rank, int size) : IDataParallelCommunicator
    {
        public int Rank => rank;
        public int Size => size;
        public void AllReduceSum(float[] buffer, int count) => throw new InvalidOperationException("no collective expected");
        public void AllReduceSum(double[] buffer, int count) => throw new InvalidOperationException("no collective expected");
        public void Broadcast(float[] buffer, int count, int root) => throw new InvalidOperationException("no collective expected");
        public void Broadcast(double[] buffer, int count, int root) => throw new InvalidOperationException("no collective expected");
        public void Barrier() => throw new InvalidOperationException("no collective expected");
        public void Abort(int errorCode) => throw new InvalidOperationException("no abort expected");
    }
}
