using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Training.Distributed;

/// <summary>
/// Averages gradients (and a few scalars riding along, e.g. the loss terms) over the ranks of a job: every gradient is
/// flattened into one float32 CPU buffer, so each optimizer step costs a single all-reduce. Also gathers per-sample
/// rows and broadcasts weights. Measures the time it spends (copies included).
/// </summary>
internal sealed class GradientExchange
{
    private readonly IDataParallelCommunicator communicator;
    private float[] buffer = [];

    public GradientExchange(IDataParallelCommunicator communicator) => this.communicator = communicator;

    /// <summary>Time spent in collectives and in the copies around them, since creation.</summary>
    public TimeSpan Elapsed { get; private set; }

    /// <summary>Number of collective calls since creation.</summary>
    public long Calls { get; private set; }

    /// <summary>Replaces each parameter's gradient by its mean over the ranks and returns the means of
    /// <paramref name="scalars"/>. A parameter without a gradient keeps none (every rank runs the same graph, so none
    /// has one there either).</summary>
    public double[] AllReduceMean(IReadOnlyList<Tensor> parameters, ReadOnlySpan<double> scalars)
    {
        var clock = Stopwatch.StartNew();
        long total = scalars.Length;
        foreach (var p in parameters) total += p.numel();
        if (total > int.MaxValue) throw new NotSupportedException($"{total} gradient values do not fit one MPI message.");
        var count = (int)total;
        EnsureBuffer(count);
        var offset = 0;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var grads = parameters.Select(p => p.grad is { } g ? g.detach().reshape(-1) : zeros(p.numel(), dtype: ScalarType.Float32)).ToList();
            if (grads.Count > 0)
            {
                var flat = cat(grads, 0).to(ScalarType.Float32).cpu().contiguous();
                flat.data<float>().CopyTo(buffer, 0);
                offset = (int)flat.numel();
            }
        }
        for (var i = 0; i < scalars.Length; i++) buffer[offset + i] = (float)scalars[i];

        communicator.AllReduceSum(buffer, count);
        var scale = 1.0f / communicator.Size;
        for (var i = 0; i < count; i++) buffer[i] *= scale;

        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var flat = tensor(buffer.AsSpan(0, offset).ToArray(), dtype: ScalarType.Float32);
            long at = 0;
            foreach (var p in parameters)
            {
                var n = p.numel();
                if (p.grad is { } g) g.copy_(flat.narrow(0, at, n).view_as(g));
                at += n;
            }
        }
        var means = new double[scalars.Length];
        for (var i = 0; i < means.Length; i++) means[i] = buffer[offset + i];
        Record(clock);
        return means;
    }

    /// <summary>Sums <paramref name="values"/> over the ranks (a small vector: forward statistics, flags).</summary>
    public double[] AllReduceSum(ReadOnlySpan<double> values)
    {
        var clock = Stopwatch.StartNew();
        EnsureBuffer(values.Length);
        for (var i = 0; i < values.Length; i++) buffer[i] = (float)values[i];
        communicator.AllReduceSum(buffer, values.Length);
        var sums = new double[values.Length];
        for (var i = 0; i < sums.Length; i++) sums[i] = buffer[i];
        Record(clock);
        return sums;
    }

    /// <summary>Every rank's rows of a per-sample tensor: <paramref name="local"/> [n, ...] holds rows
    /// <c>shard.Offset ..</c> of a global [shard.GlobalCount, ...]; the result (detached, float32, on
    /// <paramref name="local"/>'s device) holds all rows. Zero-padded all-reduce, so exact: x + 0 = x.</summary>
    public Tensor AllGatherRows(Tensor local, DataShard shard)
    {
        var clock = Stopwatch.StartNew();
        var rowShape = local.shape.Skip(1).ToArray();
        var rowSize = rowShape.Aggregate(1L, (a, b) => a * b);
        var count = checked((int)(rowSize * shard.GlobalCount));
        EnsureBuffer(count);
        Array.Clear(buffer, 0, count);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            if (shard.Count > 0)
            {
                var rows = local.detach().to(ScalarType.Float32).cpu().contiguous().reshape(-1);
                rows.data<float>().CopyTo(buffer, (int)(shard.Offset * rowSize));
            }
        }
        communicator.AllReduceSum(buffer, count);
        var gathered = tensor(buffer.AsSpan(0, count).ToArray(), dtype: ScalarType.Float32)
            .reshape([shard.GlobalCount, .. rowShape]);
        Record(clock);
        return gathered.to(local.device);
    }

    /// <summary>Copies rank 0's values of <paramref name="tensors"/> (weights, buffers) into every rank's.</summary>
    public void BroadcastFromRankZero(IReadOnlyList<Tensor> tensors)
    {
        var clock = Stopwatch.StartNew();
        var total = checked((int)tensors.Sum(t => t.numel()));
        EnsureBuffer(total);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            if (tensors.Count > 0)
            {
                var flat = cat(tensors.Select(t => t.detach().reshape(-1).to(ScalarType.Float32)).ToList(), 0).cpu().contiguous();
                flat.data<float>().CopyTo(buffer, 0);
            }
            communicator.Broadcast(buffer, total, 0);
            var back = tensor(buffer.AsSpan(0, total).ToArray(), dtype: ScalarType.Float32);
            long at = 0;
            foreach (var t in tensors)
            {
                var n = t.numel();
                t.copy_(back.narrow(0, at, n).view_as(t));
                at += n;
            }
        }
        Record(clock);
    }

    private void EnsureBuffer(int count)
    {
        if (buffer.Length < count) buffer = new float[count];
    }

    private void Record(Stopwatch clock)
    {
        Elapsed += clock.Elapsed;
        Calls++;
    }
}
