using static TorchSharp.torch;

namespace DaRcot.Rec.Training.Distributed;

/// <summary>
/// One rank's share of any <see cref="ITrainingBatchSource"/>: each global batch is read whole and sliced to the rows
/// of <see cref="DataShard.Of"/>. Simple and exact for any source, but every rank builds every sample; a source that
/// can build only its rows (<c>StreamingBatchOptions.ShardIndex</c>/<c>ShardCount</c>) saves that work.
/// </summary>
public sealed class ShardedBatchSource : ITrainingBatchSource
{
    private readonly ITrainingBatchSource inner;

    /// <summary>Wraps <paramref name="inner"/> for rank <paramref name="rank"/> of <paramref name="size"/>.</summary>
    public ShardedBatchSource(ITrainingBatchSource inner, int rank, int size)
    {
        this.inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _ = DataShard.Of(0, rank, size);
        Rank = rank;
        Size = size;
    }

    /// <summary>This rank.</summary>
    public int Rank { get; }

    /// <summary>Number of ranks.</summary>
    public int Size { get; }

    /// <inheritdoc/>
    public int BatchesPerEpoch => inner.BatchesPerEpoch;

    /// <inheritdoc/>
    public bool TargetsDecorrelated => inner.TargetsDecorrelated;

    /// <inheritdoc/>
    public IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch = 0)
    {
        foreach (var batch in inner.GetBatches(epoch, startBatch))
        {
            using (batch)
                yield return Slice(batch, Rank, Size);
        }
    }

    /// <summary>Rank <paramref name="rank"/>'s rows of <paramref name="batch"/> (a new batch; the caller disposes
    /// both).</summary>
    public static TrainingBatch Slice(TrainingBatch batch, int rank, int size)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var shard = DataShard.Of(batch.Count, rank, size);
        using var scope = NewDisposeScope();
        var x = batch.Degraded.narrow(0, shard.Offset, shard.Count).clone();
        var y = batch.Target.narrow(0, shard.Offset, shard.Count).clone();
        return new TrainingBatch(x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), batch.TaskIds.AsSpan(shard.Offset, shard.Count).ToArray())
        {
            GlobalOffset = shard.Offset,
            GlobalCount = batch.Count,
        };
    }
}
