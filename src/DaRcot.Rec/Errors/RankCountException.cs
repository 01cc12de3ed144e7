namespace DaRcot.Rec.Errors;

/// <summary>Data-parallel training was started (or resumed) with a number of ranks that does not divide the global
/// batch size, so the ranks cannot hold equal shares of every batch.</summary>
public sealed class RankCountException : DaRcotException
{
    /// <summary>Number of ranks (processes) of the job.</summary>
    public int Ranks { get; }

    /// <summary>The global batch size of the run (recorded in its checkpoint on resume).</summary>
    public int GlobalBatch { get; }

    /// <summary>Creates the exception.</summary>
    public RankCountException(int ranks, int globalBatch)
        : base($"{ranks} ranks do not divide the global batch of {globalBatch}: start the job with a number of processes that divides it " +
               $"({string.Join(", ", Divisors(globalBatch))}), or change data.batch_size (a checkpoint keeps the batch size it was started with).")
    {
        Ranks = ranks;
        GlobalBatch = globalBatch;
    }

    private static IEnumerable<int> Divisors(int n) => n < 1 ? [1] : Enumerable.Range(1, n).Where(d => n % d == 0);
}
