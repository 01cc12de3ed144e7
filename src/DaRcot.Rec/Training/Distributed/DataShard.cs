using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Training.Distributed;

/// <summary>Which rows of a global batch one rank trains on.</summary>
/// <param name="Offset">First row of the global batch.</param>
/// <param name="Count">Number of rows.</param>
/// <param name="GlobalCount">Rows of the global batch.</param>
public readonly record struct DataShard(int Offset, int Count, int GlobalCount)
{
    /// <summary>The rows of rank <paramref name="rank"/> of <paramref name="size"/> in a global batch of
    /// <paramref name="globalCount"/> rows: contiguous, in rank order, sizes differing by at most one (the first
    /// <c>globalCount mod size</c> ranks get one more). A rank may get no row when <c>globalCount &lt; size</c>.</summary>
    public static DataShard Of(int globalCount, int rank, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(globalCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"must be within 0..{size - 1}.");
        int share = globalCount / size, extra = globalCount % size;
        return new DataShard(rank * share + Math.Min(rank, extra), share + (rank < extra ? 1 : 0), globalCount);
    }

    /// <summary>Throws <see cref="RankCountException"/> unless <paramref name="ranks"/> divides
    /// <paramref name="globalBatch"/> (the nominal batch of a run: every full batch is then split evenly).</summary>
    public static void EnsureDivides(int globalBatch, int ranks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        if (globalBatch < 1 || globalBatch % ranks != 0) throw new RankCountException(ranks, globalBatch);
    }

    /// <summary>This shard's weight in a global batch mean: <c>Count / GlobalCount</c>.</summary>
    public double Fraction => GlobalCount == 0 ? 0 : (double)Count / GlobalCount;
}
