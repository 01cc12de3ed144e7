using static TorchSharp.torch;

namespace DaRcot.Rec.Profiling;

/// <summary>
/// The multiply-adds of one forward pass, accumulated while <see cref="FlopCounter"/> counts on this thread. The
/// library's own layers report here from inside their forward (<c>VerifiedConv2d</c>, the attention matmuls), which
/// works whether a parent calls them with <c>forward</c> or <c>call</c>; TorchSharp's stock layers report through
/// forward hooks. Outside a count the tally is null and a report is one thread-static read.
/// </summary>
internal sealed class OpTally
{
    // Thread-static, not AsyncLocal: a forward pass runs on one thread, and a model used by another thread at the
    // same time must not add to this count.
    [ThreadStatic] private static OpTally? t_current;

    public long ConvMacs { get; private set; }
    public long LinearMacs { get; private set; }
    public long MatmulMacs { get; private set; }

    /// <summary>Whether a count runs on this thread: lets a caller skip work that only the count needs.</summary>
    public static bool Active => t_current is not null;

    /// <summary>Makes <paramref name="tally"/> this thread's tally and returns the previous one (to restore).</summary>
    public static OpTally? Swap(OpTally? tally)
    {
        var previous = t_current;
        t_current = tally;
        return previous;
    }

    /// <summary>A convolution that wrote <paramref name="output"/>: each output element is a dot product of
    /// <paramref name="inChannelsPerGroup"/> × the kernel area. Bias adds are not counted.</summary>
    public static void Convolution(Tensor output, long inChannelsPerGroup, long kernelArea)
    {
        if (t_current is { } t) t.ConvMacs += output.numel() * inChannelsPerGroup * kernelArea;
    }

    /// <summary>A transposed convolution that read <paramref name="input"/>: each input element is scattered into
    /// <paramref name="outChannelsPerGroup"/> × the kernel area outputs.</summary>
    public static void TransposedConvolution(Tensor input, long outChannelsPerGroup, long kernelArea)
    {
        if (t_current is { } t) t.ConvMacs += input.numel() * outChannelsPerGroup * kernelArea;
    }

    /// <summary>A linear layer that wrote <paramref name="output"/> from <paramref name="inFeatures"/> inputs.</summary>
    public static void Linear(Tensor output, long inFeatures)
    {
        if (t_current is { } t) t.LinearMacs += output.numel() * inFeatures;
    }

    /// <summary>A (batched) matrix product A[…,m,k]·B[…,k,n] that wrote <paramref name="output"/>: numel × k.</summary>
    public static void MatMul(Tensor output, long innerDim)
    {
        if (t_current is { } t) t.MatmulMacs += output.numel() * innerDim;
    }
}
