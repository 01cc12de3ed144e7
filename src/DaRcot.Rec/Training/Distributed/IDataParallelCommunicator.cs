namespace DaRcot.Rec.Training.Distributed;

/// <summary>
/// The few collective operations that data-parallel training needs, on float32 CPU buffers (float64 ones for networks
/// trained in float64). The library depends only
/// on this interface; <see cref="SingleProcessCommunicator"/> is the default, and an MPI implementation (the
/// <c>DaRcot.Rec.Mpi</c> assembly, used by <c>darcot train</c> under <c>mpiexec</c>) connects processes.
/// </summary>
/// <remarks>Every rank must call the same operations in the same order with the same lengths (MPI semantics); the
/// trainer guarantees that, and checks every rank-dependent decision (non-finite values, cancellation) on values that
/// were all-reduced, so that all ranks take it together.</remarks>
public interface IDataParallelCommunicator
{
    /// <summary>This process's rank, 0 ≤ rank &lt; <see cref="Size"/>. Rank 0 alone writes checkpoints and logs.</summary>
    int Rank { get; }

    /// <summary>Number of processes (ranks).</summary>
    int Size { get; }

    /// <summary>Replaces the first <paramref name="count"/> values of <paramref name="buffer"/> on every rank by their
    /// sum over all ranks.</summary>
    void AllReduceSum(float[] buffer, int count);

    /// <summary>The same on float64 values.</summary>
    void AllReduceSum(double[] buffer, int count);

    /// <summary>Copies the first <paramref name="count"/> values of rank <paramref name="root"/>'s
    /// <paramref name="buffer"/> into every other rank's.</summary>
    void Broadcast(float[] buffer, int count, int root);

    /// <summary>The same on float64 values.</summary>
    void Broadcast(double[] buffer, int count, int root);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();

    /// <summary>Ends every rank of the job with <paramref name="errorCode"/> (MPI_Abort): used when one rank fails, so
    /// that the others do not wait for it forever in a collective.</summary>
    void Abort(int errorCode);
}

/// <summary>One process: rank 0 of 1; every collective is the identity.</summary>
public sealed class SingleProcessCommunicator : IDataParallelCommunicator
{
    /// <summary>The shared instance.</summary>
    public static SingleProcessCommunicator Instance { get; } = new();

    /// <inheritdoc/>
    public int Rank => 0;

    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public void AllReduceSum(float[] buffer, int count) => CheckCount(buffer, count);

    /// <inheritdoc/>
    public void AllReduceSum(double[] buffer, int count) => CheckCount(buffer, count);

    /// <inheritdoc/>
    public void Broadcast(float[] buffer, int count, int root)
    {
        CheckCount(buffer, count);
        ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);
    }

    /// <inheritdoc/>
    public void Broadcast(double[] buffer, int count, int root)
    {
        CheckCount(buffer, count);
        ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);
    }

    /// <inheritdoc/>
    public void Barrier() { }

    /// <inheritdoc/>
    /// <remarks>With one process there is nobody to wake: nothing happens, the caller's exception ends the run.</remarks>
    public void Abort(int errorCode) { }

    private static void CheckCount<T>(T[] buffer, int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, buffer.Length);
    }
}
