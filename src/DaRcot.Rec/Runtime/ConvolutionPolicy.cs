namespace DaRcot.Rec.Runtime;

/// <summary>How the library's convolutions use libtorch's CPU kernels (oneDNN), which are wrong on some machines for
/// some shapes, thread counts and directions (see the README's "Numerics" section).</summary>
public enum ConvolutionPolicy
{
    /// <summary>Default. Each convolution key (shapes, geometry, layout, threads, dtype) is checked once against a
    /// float64 reference at sampled points — forward on first use, gradients on first use with autograd — and falls
    /// back to a verified slower path (<see cref="ConvolutionPath"/>) only where the fast kernel is wrong.</summary>
    Verified,

    /// <summary>Call libtorch directly without checks (fastest; only for machines known to be unaffected).</summary>
    Trusted,

    /// <summary>Disable oneDNN process-wide (libtorch's portable kernels everywhere): correct, several times slower.</summary>
    OneDnnDisabled,
}
