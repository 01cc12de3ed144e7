namespace DaRcot.Rec.Runtime;

/// <summary>
/// How a verified convolution is computed, from fastest to safest. A convolution key moves down this ladder only
/// when a check against the float64 reference shows the faster way to be wrong on this machine.
/// </summary>
public enum ConvolutionPath
{
    /// <summary>libtorch's own choice of kernel (oneDNN on CPU), on the input as it comes.</summary>
    Native,

    /// <summary>The same kernel on a contiguous (NCHW) copy of a channels-last input.</summary>
    Contiguous,

    /// <summary>Input and output channels zero-padded to multiples of 16 (zero input channels and zero extra filters
    /// add nothing; the extra outputs are cut away), which selects oneDNN's fully blocked kernels. Exact by
    /// construction; costs extra work only in the padded layer. Used for ungrouped convolutions only.</summary>
    ChannelPadded,

    /// <summary>Computed in float64, which libtorch never sends to oneDNN, and rounded back. Always correct, slowest.</summary>
    Float64,
}
