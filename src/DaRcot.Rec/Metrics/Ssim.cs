using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Metrics;

/// <summary>Which scikit-image <c>structural_similarity</c> configuration <see cref="Ssim"/> reproduces.</summary>
public enum SsimVariant
{
    /// <summary>
    /// scikit-image's defaults: 7×7 uniform window, sample covariance (× 49/48), K1 = 0.01, K2 = 0.03. This is what
    /// DA-RCOT's evaluation and the Restormer defocus scripts report.
    /// </summary>
    SkimageDefault = 0,

    /// <summary>
    /// Wang et al. (2004) as scikit-image computes it with <c>gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False</c>: an 11-tap Gaussian (radius int(3.5·1.5 + 0.5) = 5), population covariance.
    /// </summary>
    Gaussian = 1,
}

/// <summary>
/// Structural similarity, numerically equal to scikit-image 0.19's <c>structural_similarity(..., data_range,
/// channel_axis)</c>: each channel is scored on its own and the channel scores are averaged.
/// </summary>
/// <remarks>
/// <para>scikit-image filters the whole image with a border-reflecting filter and then averages the SSIM map after
/// cropping (window − 1)/2 pixels from every side. The crop equals the filter radius, so every value that survives
/// the crop is computed from image pixels only and the border mode never affects the result. We therefore filter
/// without padding ("valid" filtering, separable, float64), which yields exactly the cropped map. The filter is a
/// weighted sum of shifted views rather than <c>conv2d</c>: with one input channel and 7 or 11 taps it is several
/// times faster on the CPU (float64 convolution has no optimised kernel) and sums in the same order on every device.</para>
/// <para>Images must be at least as large as the window (7×7, or 11×11 for <see cref="SsimVariant.Gaussian"/>).</para>
/// </remarks>
public static class Ssim
{
    private const double K1 = 0.01, K2 = 0.03, Sigma = 1.5, Truncate = 3.5;
    private static readonly Scalar Two = Scalars.Constant(2.0);

    /// <summary>The mean over the batch of the per-image SSIM.</summary>
    /// <param name="restored">The image under test, <c>[N,C,H,W]</c> or <c>[C,H,W]</c>.</param>
    /// <param name="reference">The ground truth, same shape and device.</param>
    /// <param name="variant">Window and covariance convention.</param>
    /// <param name="dataRange">The value range of the images (1 for [0,1]); sets C1 = (K1·range)², C2 = (K2·range)².</param>
    /// <exception cref="TensorArgumentException">Shapes differ, the rank is not 3 or 4, a value is NaN/∞, or the image
    /// is smaller than the window.</exception>
    public static double Compute(Tensor restored, Tensor reference, SsimVariant variant = SsimVariant.SkimageDefault, double dataRange = 1.0)
    {
        using var scope = torch.NewDisposeScope();
        return ComputeBatch(restored, reference, variant, dataRange).mean().item<double>();
    }

    /// <summary>The SSIM of each image pair: a float64 tensor of shape <c>[N]</c> on the inputs' device.</summary>
    /// <inheritdoc cref="Compute" path="/param"/>
    /// <exception cref="TensorArgumentException">Shapes differ, the rank is not 3 or 4, a value is NaN/∞, or the image
    /// is smaller than the window.</exception>
    public static Tensor ComputeBatch(Tensor restored, Tensor reference, SsimVariant variant = SsimVariant.SkimageDefault, double dataRange = 1.0)
    {
        if (variant is not (SsimVariant.SkimageDefault or SsimVariant.Gaussian))
            throw new ArgumentOutOfRangeException(nameof(variant), variant, "Unknown SSIM variant.");
        using var scope = torch.NewDisposeScope();
        var (x, y) = MetricInputs.Prepare(restored, reference, dataRange);
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];

        var taps = Window(variant);
        int size = taps.Length;
        if (h < size || w < size)
            throw new TensorArgumentException(nameof(restored),
                $"shape {MetricInputs.Describe(restored.shape)} is smaller than the {size}x{size} SSIM window of {variant}.");

        // skimage normalises the filtered moments by the window and then rescales to the unbiased (sample) estimate.
        double np = size * size;
        double covNorm = variant == SsimVariant.SkimageDefault ? np / (np - 1) : 1.0;
        double c1 = (K1 * dataRange) * (K1 * dataRange), c2 = (K2 * dataRange) * (K2 * dataRange);
        using Scalar covNormScalar = covNorm.ToScalar(), c1Scalar = c1.ToScalar(), c2Scalar = c2.ToScalar();

        var perImage = new Tensor[n];
        for (long i = 0; i < n; i++)
        {
            var channelScores = new Tensor[c];
            for (long ch = 0; ch < c; ch++)
            {
                // One channel at a time keeps the five float64 moment maps of a large image within memory.
                using var inner = torch.NewDisposeScope();
                var a = x[i, ch].unsqueeze(0).unsqueeze(0);
                var b = y[i, ch].unsqueeze(0).unsqueeze(0);
                var moments = torch.cat(new[] { a, b, a * a, b * b, a * b }, 0);
                var filtered = FilterValid(moments, taps);
                var ux = filtered[0];
                var uy = filtered[1];
                var vx = (filtered[2] - ux * ux).mul(covNormScalar);
                var vy = (filtered[3] - uy * uy).mul(covNormScalar);
                var vxy = (filtered[4] - ux * uy).mul(covNormScalar);
                var numerator = (ux * uy).mul(Two).Plus(c1Scalar) * vxy.mul(Two).Plus(c2Scalar);
                var denominator = (ux * ux).Plus(uy * uy).Plus(c1Scalar) * vx.Plus(vy).Plus(c2Scalar);
                channelScores[ch] = (numerator / denominator).mean().MoveToOuterDisposeScope();
            }
            perImage[i] = torch.stack(channelScores).mean();
        }
        return torch.stack(perImage).MoveToOuterDisposeScope();
    }

    /// <summary>Separable filtering of <c>[B,1,H,W]</c> with <paramref name="taps"/> along H and then W, keeping only
    /// positions where the window lies inside the image: <c>[B,1,H−k+1,W−k+1]</c>.</summary>
    private static Tensor FilterValid(Tensor m, double[] taps)
    {
        int k = taps.Length;
        long h = m.shape[2] - k + 1, w = m.shape[3] - k + 1;
        var vertical = m.narrow(2, 0, h).Times(taps[0]);
        for (int i = 1; i < k; i++) vertical.AddScaledInPlace(m.narrow(2, i, h), taps[i]);
        var both = vertical.narrow(3, 0, w).Times(taps[0]);
        for (int i = 1; i < k; i++) both.AddScaledInPlace(vertical.narrow(3, i, w), taps[i]);
        return both;
    }

    /// <summary>The 1-D taps of the separable window: scipy's <c>uniform_filter(size=7)</c> or
    /// <c>gaussian_filter(sigma=1.5, truncate=3.5)</c>.</summary>
    internal static double[] Window(SsimVariant variant)
    {
        if (variant == SsimVariant.SkimageDefault) return Enumerable.Repeat(1.0 / 7, 7).ToArray();
        int radius = (int)(Truncate * Sigma + 0.5);
        var taps = new double[2 * radius + 1];
        for (int k = -radius; k <= radius; k++) taps[k + radius] = Math.Exp(-0.5 * k * k / (Sigma * Sigma));
        var sum = taps.Sum();
        for (int k = 0; k < taps.Length; k++) taps[k] /= sum;
        return taps;
    }
}
