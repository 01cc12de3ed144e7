using static TorchSharp.torch;

namespace DaRcot.Rec.Runtime;

/// <summary>Stride, padding, dilation and groups of a 2-D convolution (height, width).</summary>
public readonly record struct ConvGeometry(long StrideH, long StrideW, long PadH, long PadW, long DilationH, long DilationW, long Groups)
{
    /// <summary>Geometry from the per-dimension arrays TorchSharp modules keep.</summary>
    public static ConvGeometry From(long[] stride, long[] padding, long[] dilation, long groups) =>
        new(stride[0], stride[^1], padding[0], padding[^1], dilation[0], dilation[^1], groups);

    /// <summary>Output size along one axis (PyTorch's formula).</summary>
    public static long OutputSize(long input, long kernel, long stride, long pad, long dilation) =>
        (input + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

/// <summary>
/// Everything that decides which kernel libtorch runs for a convolution: the full input and weight shapes, the
/// geometry, the memory layout of the input, the intra-op thread count and the dtype. Each key is verified once.
/// </summary>
internal readonly record struct ConvolutionKey(
    long Batch, long InChannels, long Height, long Width, long OutChannels, long KernelH, long KernelW,
    ConvGeometry Geometry, bool ChannelsLast, int Threads, ScalarType Dtype, bool HasBias)
{
    public static ConvolutionKey Of(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g, bool channelsLast, int threads) =>
        new(x.shape[0], x.shape[1], x.shape[2], x.shape[3], weight.shape[0], weight.shape[2], weight.shape[3], g,
            channelsLast, threads, x.dtype, bias is not null);

    /// <summary>Short human-readable form for logs and reports, e.g. <c>conv 48→3 k3x3 s1 g1 [1,48,128,128] NCHW f32 2T</c>.</summary>
    public override string ToString()
    {
        var g = Geometry;
        var stride = g.StrideH == g.StrideW ? $"s{g.StrideH}" : $"s{g.StrideH}x{g.StrideW}";
        var dilation = g.DilationH == 1 && g.DilationW == 1 ? "" : $" d{g.DilationH}x{g.DilationW}";
        var layout = ChannelsLast ? "NHWC" : "NCHW";
        return $"conv {InChannels}→{OutChannels} k{KernelH}x{KernelW} {stride} p{g.PadH}x{g.PadW}{dilation} g{g.Groups} " +
               $"[{Batch},{InChannels},{Height},{Width}] {layout} {Dtype} {Threads}T";
    }
}
