using DaRcot.Rec.Errors;
using DaRcot.Rec.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>How image borders are extended before a blur kernel is applied.</summary>
public enum BlurPadding
{
    /// <summary>Mirror without repeating the edge pixel (falls back to replicate when the image is smaller than the kernel radius).</summary>
    Reflect = 0,

    /// <summary>Repeat the edge pixel.</summary>
    Replicate = 1,
}

/// <summary>
/// Blur kernels (normalised to sum 1, odd square sizes, float64 arrays) and their application to batches.
/// </summary>
public static class BlurKernels
{
    /// <summary>An isotropic Gaussian kernel of standard deviation <paramref name="sigma"/> pixels.</summary>
    /// <param name="sigma">Standard deviation in pixels (&gt; 0).</param>
    /// <param name="size">Odd side length; default 2·⌈3σ⌉ + 1.</param>
    public static double[,] Gaussian(double sigma, int? size = null)
    {
        if (!(sigma > 0) || !double.IsFinite(sigma)) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "sigma must be positive.");
        int k = size ?? 2 * (int)Math.Ceiling(3 * sigma) + 1;
        CheckSize(k);
        int r = k / 2;
        var kernel = new double[k, k];
        for (int y = 0; y < k; y++)
        for (int x = 0; x < k; x++)
            kernel[y, x] = Math.Exp(-((y - r) * (y - r) + (x - r) * (x - r)) / (2 * sigma * sigma));
        return Normalize(kernel);
    }

    /// <summary>
    /// A defocus (disk, "pillbox") kernel of radius <paramref name="radius"/> pixels. Each cell's weight is the fraction
    /// of it covered by the disk, estimated with 8×8 sub-samples, so small radii stay round and weights vary smoothly.
    /// </summary>
    public static double[,] Disk(double radius)
    {
        if (!(radius > 0) || !double.IsFinite(radius)) throw new ArgumentOutOfRangeException(nameof(radius), radius, "radius must be positive.");
        int r = (int)Math.Ceiling(radius);
        int k = 2 * r + 1;
        CheckSize(k);
        const int sub = 8;
        var kernel = new double[k, k];
        for (int y = 0; y < k; y++)
        for (int x = 0; x < k; x++)
        {
            int inside = 0;
            for (int sy = 0; sy < sub; sy++)
            for (int sx = 0; sx < sub; sx++)
            {
                double py = y - r - 0.5 + (sy + 0.5) / sub, px = x - r - 0.5 + (sx + 0.5) / sub;
                if (py * py + px * px <= radius * radius) inside++;
            }
            kernel[y, x] = inside;
        }
        return Normalize(kernel);
    }

    /// <summary>
    /// A motion-blur kernel along a random camera-shake trajectory: a particle starts at the centre with a random
    /// direction and moves <paramref name="steps"/> times, its velocity perturbed by Gaussian noise and pulled back
    /// toward the centre (a simplified form of the Boracchi–Foi trajectory model); its path is splatted bilinearly onto
    /// the grid and the result is re-centred on its centroid and normalised.
    /// </summary>
    /// <param name="size">Odd kernel side length (≥ 3).</param>
    /// <param name="length">Approximate path length in pixels (≤ size − 1 is sensible).</param>
    /// <param name="randomness">Random numbers in [0,1): at least 2·<paramref name="steps"/> + 1 of them (drawn by the caller from its generator).</param>
    /// <param name="steps">Trajectory samples.</param>
    /// <param name="shake">Velocity perturbation strength (0 = a straight line).</param>
    public static double[,] Motion(int size, double length, ReadOnlySpan<double> randomness, int steps = 64, double shake = 0.35)
    {
        CheckSize(size);
        if (size < 3) throw new ArgumentOutOfRangeException(nameof(size), size, "motion kernels need size >= 3.");
        if (randomness.Length < 2 * steps + 1) throw new ArgumentException($"needs {2 * steps + 1} random numbers, got {randomness.Length}.", nameof(randomness));
        double step = Math.Max(length, 1) / steps;
        double angle = 2 * Math.PI * randomness[0];
        double vx = Math.Cos(angle) * step, vy = Math.Sin(angle) * step;
        var xs = new double[steps + 1];
        var ys = new double[steps + 1];
        for (int i = 1; i <= steps; i++)
        {
            // Box–Muller-free perturbation: centred uniforms are enough for a plausible shake.
            double dx = (randomness[2 * i - 1] - 0.5) * 2 * shake * step;
            double dy = (randomness[2 * i] - 0.5) * 2 * shake * step;
            vx += dx; vy += dy;
            double norm = Math.Sqrt(vx * vx + vy * vy);
            if (norm > 0) { vx *= step / norm; vy *= step / norm; } // keep a constant speed so the length is honoured
            xs[i] = xs[i - 1] + vx;
            ys[i] = ys[i - 1] + vy;
        }
        double mx = xs.Average(), my = ys.Average();
        int c = size / 2;
        var kernel = new double[size, size];
        for (int i = 0; i <= steps; i++)
        {
            double x = Math.Clamp(xs[i] - mx + c, 0, size - 1), y = Math.Clamp(ys[i] - my + c, 0, size - 1);
            int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y);
            int x1 = Math.Min(x0 + 1, size - 1), y1 = Math.Min(y0 + 1, size - 1);
            double fx = x - x0, fy = y - y0;
            kernel[y0, x0] += (1 - fx) * (1 - fy);
            kernel[y0, x1] += fx * (1 - fy);
            kernel[y1, x0] += (1 - fx) * fy;
            kernel[y1, x1] += fx * fy;
        }
        return Normalize(kernel);
    }

    /// <summary>Divides by the sum so the kernel preserves the mean brightness (a constant image stays constant).</summary>
    public static double[,] Normalize(double[,] kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        double sum = 0;
        foreach (var v in kernel) sum += v;
        if (!(sum > 0)) throw new ArgumentException("kernel sum must be positive.", nameof(kernel));
        var result = (double[,])kernel.Clone();
        for (int y = 0; y < result.GetLength(0); y++)
        for (int x = 0; x < result.GetLength(1); x++)
            result[y, x] /= sum;
        return result;
    }

    /// <summary>Pads smaller odd kernels with zeros to a common size so a batch can share one conv2d call.</summary>
    internal static Tensor Stack(IReadOnlyList<double[,]> kernels)
    {
        int k = kernels.Max(t => t.GetLength(0));
        var data = new double[kernels.Count * k * k];
        for (int b = 0; b < kernels.Count; b++)
        {
            var kern = kernels[b];
            int s = kern.GetLength(0), off = (k - s) / 2;
            for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++)
                data[b * k * k + (y + off) * k + (x + off)] = kern[y, x];
        }
        return torch.tensor(data, new long[] { kernels.Count, k, k }, dtype: ScalarType.Float64);
    }

    /// <summary>
    /// Convolves each image of the batch with its own kernel (the same kernel for all its channels).
    /// </summary>
    /// <param name="images"><c>[B,C,H,W]</c> floating point.</param>
    /// <param name="kernels">One kernel per image (odd sizes; smaller ones are zero-padded to the largest).</param>
    /// <param name="padding">Border handling (the output keeps the input size).</param>
    public static Tensor Apply(Tensor images, IReadOnlyList<double[,]> kernels, BlurPadding padding = BlurPadding.Reflect)
    {
        DegradationRandom.CheckImages(images, nameof(images));
        ArgumentNullException.ThrowIfNull(kernels);
        long b = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        if (kernels.Count != b)
            throw new TensorArgumentException(nameof(kernels), $"{kernels.Count} kernels for a batch of {b} images.");
        foreach (var kern in kernels)
            if (kern.GetLength(0) != kern.GetLength(1) || kern.GetLength(0) % 2 == 0)
                throw new TensorArgumentException(nameof(kernels), $"kernel of {kern.GetLength(0)}x{kern.GetLength(1)} must be square with an odd size.");
        using var scope = torch.NewDisposeScope();
        var stacked = Stack(kernels);
        long k = stacked.shape[1], r = k / 2;
        var weight = stacked.to(images.dtype).to(images.device).unsqueeze(1).repeat_interleave(c, dim: 0); // [B*C,1,k,k]
        var mode = padding == BlurPadding.Reflect && r < h && r < w ? PaddingModes.Reflect : PaddingModes.Replicate;
        var x = images.reshape(1, b * c, h, w);
        if (r > 0) x = torch.nn.functional.pad(x, new[] { r, r, r, r }, mode);
        var y = VerifiedConv2d.Apply(x, weight, null, new ConvGeometry(1, 1, 0, 0, 1, 1, b * c));
        return y.reshape(b, c, h, w).MoveToOuterDisposeScope();
    }

    private static void CheckSize(int k)
    {
        if (k < 1 || k % 2 == 0 || k > 255) throw new ArgumentOutOfRangeException(nameof(k), k, "kernel size must be odd and within 1..255.");
    }
}
