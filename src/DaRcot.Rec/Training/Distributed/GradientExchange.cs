using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Training.Distributed;

/// <summary>
/// Averages gradients (and a few scalars riding along: the loss terms, a cancellation flag) over the ranks of a job:
/// every gradient is flattened into one CPU buffer of the parameters' type (float32, or float64 for a network trained
/// in float64), so each optimizer step costs a single all-reduce. Also gathers per-sample rows and broadcasts
/// weights. Measures the time it spends (copies included).
/// </summary>
internal sealed class GradientExchange
{
    private readonly IDataParallelCommunicator communicator;
    private float[] singles = [];
    private double[] doubles = [];

    public GradientExchange(IDataParallelCommunicator communicator) => this.communicator = communicator;

    /// <summary>Time spent in collectives and in the copies around them, since creation.</summary>
    public TimeSpan Elapsed { get; private set; }

    /// <summary>Number of collective calls since creation.</summary>
    public long Calls { get; private set; }

    /// <summary>Replaces each parameter's gradient by its mean over the ranks and returns the means of
    /// <paramref name="scalars"/>. A parameter without a gradient keeps none (every rank runs the same graph, so none
    /// has one there either).</summary>
    public double[] AllReduceMean(IReadOnlyList<Tensor> parameters, double[] scalars)
    {
        var clock = Stopwatch.StartNew();
        var type = parameters.Count > 0 && parameters[0].dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var parts = parameters.Select(p => p.grad is { } g ? g.detach().reshape(-1).to(type).cpu() : zeros(p.numel(), dtype: type)).ToList();
        parts.Add(tensor(scalars, dtype: ScalarType.Float64).to(type));
        var flat = SumInPlace(cat(parts, 0).contiguous());
        using (var scale = (1.0 / communicator.Size).ToScalar()) flat.mul_(scale);
        long at = 0;
        foreach (var p in parameters)
        {
            var n = p.numel();
            if (p.grad is { } g) g.copy_(flat.narrow(0, at, n).view_as(g));
            at += n;
        }
        var means = flat.narrow(0, at, scalars.Length).to(ScalarType.Float64).data<double>().ToArray();
        Record(clock);
        return means;
    }

    /// <summary>Sums <paramref name="values"/> over the ranks (a small vector: forward statistics), in float64.</summary>
    public double[] AllReduceSum(double[] values)
    {
        var clock = Stopwatch.StartNew();
        var sums = (double[])values.Clone();
        communicator.AllReduceSum(sums, sums.Length);
        Record(clock);
        return sums;
    }

    /// <summary>Every rank's rows of a per-sample tensor: <paramref name="local"/> [n, ...] holds rows
    /// <c>shard.Offset ..</c> of a global [shard.GlobalCount, ...]; the result (detached, of
    /// <paramref name="local"/>'s type and device) holds all rows. A zero-padded all-reduce, so exact: x + 0 = x.</summary>
    public Tensor AllGatherRows(Tensor local, DataShard shard)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long[] shape = [shard.GlobalCount, .. local.shape.Skip(1)];
        var all = zeros(shape, dtype: local.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32);
        if (shard.Count > 0) all.narrow(0, shard.Offset, shard.Count).copy_(local.detach());
        var gathered = SumInPlace(all.reshape(-1)).reshape(shape).to(local.dtype).to(local.device);
        Record(clock);
        return gathered.MoveToOuterDisposeScope();
    }

    /// <summary>Copies rank 0's values of <paramref name="tensors"/> (weights, buffers) into every rank's.</summary>
    public void BroadcastFromRankZero(IReadOnlyList<Tensor> tensors)
    {
        if (tensors.Count == 0) return;
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // float64 holds float32 values exactly, so one buffer type serves every network.
        var values = cat(tensors.Select(t => t.detach().reshape(-1).to(ScalarType.Float64).cpu()).ToList(), 0).contiguous().data<double>().ToArray();
        communicator.Broadcast(values, values.Length, 0);
        var back = tensor(values, dtype: ScalarType.Float64);
        long at = 0;
        foreach (var t in tensors)
        {
            var n = t.numel();
            t.copy_(back.narrow(0, at, n).view_as(t));
            at += n;
        }
        Record(clock);
    }

    // Sums a 1-D contiguous CPU tensor over the ranks through the communicator's buffer of its type; returns the result.
    private Tensor SumInPlace(Tensor flat)
    {
        if (flat.numel() > int.MaxValue) throw new NotSupportedException($"{flat.numel()} values do not fit one MPI message.");
        var count = (int)flat.numel();
        if (flat.dtype == ScalarType.Float64)
        {
            if (doubles.Length < count) doubles = new double[count];
            flat.data<double>().CopyTo(doubles, 0);
            communicator.AllReduceSum(doubles, count);
            return tensor(doubles.AsSpan(0, count).ToArray(), dtype: ScalarType.Float64);
        }
        if (singles.Length < count) singles = new float[count];
        flat.data<float>().CopyTo(singles, 0);
        communicator.AllReduceSum(singles, count);
        return tensor(singles.AsSpan(0, count).ToArray(), dtype: ScalarType.Float32);
    }

    private void Record(Stopwatch clock)
    {
        Elapsed += clock.Elapsed;
        Calls++;
    }
}
