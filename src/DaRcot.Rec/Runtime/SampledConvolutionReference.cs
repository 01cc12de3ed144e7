using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Runtime;

/// <summary>
/// How far a kernel's values are from a float64 reference at the sampled points: the largest difference, the largest
/// reference value (the scale errors are judged against), the largest sum of absolute terms (how much cancellation
/// there was: rounding error scales with it) and whether a kernel value was NaN/±∞ where the reference was finite.
/// </summary>
internal readonly record struct ConvolutionComparison(double MaxDifference, double MaxReference, double MaxMagnitude, bool NonFinite)
{
    /// <summary>Largest difference relative to the largest reference value (∞ for non-finite results).</summary>
    public double RelativeError => NonFinite ? double.PositiveInfinity : MaxReference > 0 ? MaxDifference / MaxReference : MaxDifference;

    /// <summary>Whether the relative error is within <paramref name="tolerance"/>.</summary>
    public bool Within(double tolerance) => !NonFinite && MaxDifference <= tolerance * MaxReference;

    /// <summary>Whether the sampled values are large compared with the terms they sum (little cancellation), so that a
    /// small relative error is meaningful. Real data can be degenerate (zero weights, flat regions); random data is not.</summary>
    public bool WellConditioned => MaxReference > 0 && MaxReference >= 1e-3 * MaxMagnitude;

    /// <summary>The worse of two comparisons.</summary>
    public ConvolutionComparison Merge(ConvolutionComparison other) =>
        new(Math.Max(MaxDifference, other.MaxDifference), Math.Max(MaxReference, other.MaxReference),
            Math.Max(MaxMagnitude, other.MaxMagnitude), NonFinite || other.NonFinite);

    /// <summary>No samples yet.</summary>
    public static ConvolutionComparison None => new(0, 0, 0, false);
}

/// <summary>
/// Float64 reference values of a 2-D convolution, its input-gradient and its weight-gradient at a few sampled
/// points, computed straight from the definition (no convolution kernel involved, so no oneDNN). Checking a handful
/// of points costs a tiny fraction of the convolution itself, yet a kernel with a wrong blocking, a wrong tail or
/// uninitialised memory gets many points wrong, so a few samples expose it.
/// </summary>
internal static class SampledConvolutionReference
{
    /// <summary>Compares <paramref name="y"/> = conv(x, w, b) with the reference at <paramref name="samples"/> output
    /// positions (all output channels at each), the first and last positions always included.</summary>
    public static ConvolutionComparison Forward(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g, Tensor y, Random rng, int samples)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3];
        long cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3];
        long ho = y.shape[2], wo = y.shape[3], groups = g.Groups;
        long spanH = g.DilationH * (kh - 1) + 1, spanW = g.DilationW * (kw - 1) + 1;
        var w64 = weight.detach().to(float64).reshape(groups, cout / groups, -1);
        var wAbs = w64.abs();
        var b64 = bias?.detach().to(float64);
        var result = ConvolutionComparison.None;
        foreach (var (bi, oy, ox) in Positions(rng, samples, n, ho, wo))
        {
            using var inner = NewDisposeScope();
            long top = oy * g.StrideH - g.PadH, left = ox * g.StrideW - g.PadW;
            long r0 = Math.Max(top, 0), r1 = Math.Min(top + spanH, h), c0 = Math.Max(left, 0), c1 = Math.Min(left + spanW, w);
            Tensor patch;
            if (r1 <= r0 || c1 <= c0)
            {
                patch = zeros(cin, kh, kw, dtype: float64);
            }
            else
            {
                var crop = x[bi, .., TensorIndex.Slice(r0, r1), TensorIndex.Slice(c0, c1)].to(float64);
                var window = nn.functional.pad(crop, [c0 - left, left + spanW - c1, r0 - top, top + spanH - r1]);
                patch = window[.., TensorIndex.Slice(null, null, g.DilationH), TensorIndex.Slice(null, null, g.DilationW)];
            }
            var columns = patch.reshape(groups, -1, 1);
            var reference = w64.bmm(columns).reshape(cout);
            var magnitude = wAbs.bmm(columns.abs()).reshape(cout);
            if (b64 is not null)
            {
                reference = reference.Plus(b64);
                magnitude = magnitude.Plus(b64.abs());
            }
            result = result.Merge(Compare(y[bi, .., oy, ox], reference, magnitude));
        }
        return result;
    }

    /// <summary>Compares the input-gradient <paramref name="gx"/> of conv(·, w) for output-gradient <paramref name="gy"/>
    /// with the reference at <paramref name="samples"/> input elements.</summary>
    public static ConvolutionComparison InputGradient(Tensor gy, Tensor weight, ConvGeometry g, Tensor gx, Random rng, int samples)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long n = gx.shape[0], cin = gx.shape[1], h = gx.shape[2], w = gx.shape[3];
        long cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3];
        long ho = gy.shape[2], wo = gy.shape[3];
        long cinG = cin / g.Groups, coutG = cout / g.Groups;
        var result = ConvolutionComparison.None;
        foreach (var (bi, ci, iy, ix) in InputPositions(rng, samples, n, cin, h, w))
        {
            using var inner = NewDisposeScope();
            // Every output position (oy, ox) and tap (ky, kx) that read input (iy, ix): iy = oy·s − p + ky·d.
            var taps = new List<(long Oy, long Ox, long Ky, long Kx)>();
            for (long ky = 0; ky < kh; ky++)
            {
                var ty = iy + g.PadH - ky * g.DilationH;
                if (ty < 0 || ty % g.StrideH != 0 || ty / g.StrideH >= ho) continue;
                for (long kx = 0; kx < kw; kx++)
                {
                    var tx = ix + g.PadW - kx * g.DilationW;
                    if (tx < 0 || tx % g.StrideW != 0 || tx / g.StrideW >= wo) continue;
                    taps.Add((ty / g.StrideH, tx / g.StrideW, ky, kx));
                }
            }
            var reference = zeros(1, dtype: float64);
            var magnitude = zeros(1, dtype: float64);
            if (taps.Count > 0)
            {
                long group = ci / cinG;
                var co = TensorIndex.Slice(group * coutG, (group + 1) * coutG);
                var oys = tensor(taps.Select(t => t.Oy).ToArray());
                var oxs = tensor(taps.Select(t => t.Ox).ToArray());
                var kys = tensor(taps.Select(t => t.Ky).ToArray());
                var kxs = tensor(taps.Select(t => t.Kx).ToArray());
                var grads = gy[bi, co].to(float64).index(TensorIndex.Colon, TensorIndex.Tensor(oys), TensorIndex.Tensor(oxs));
                var weights = weight[co, ci % cinG].detach().to(float64).index(TensorIndex.Colon, TensorIndex.Tensor(kys), TensorIndex.Tensor(kxs));
                reference = grads.mul(weights).sum().reshape(1);
                magnitude = grads.abs().mul(weights.abs()).sum().reshape(1);
            }
            result = result.Merge(Compare(gx[bi, ci, iy, ix].reshape(1), reference, magnitude));
        }
        return result;
    }

    /// <summary>Compares the weight-gradient <paramref name="gw"/> of conv(x, ·) for output-gradient <paramref name="gy"/>
    /// with the reference at <paramref name="samples"/> weight elements.</summary>
    public static ConvolutionComparison WeightGradient(Tensor x, Tensor gy, ConvGeometry g, Tensor gw, Random rng, int samples)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long cout = gw.shape[0], cinG = gw.shape[1], kh = gw.shape[2], kw = gw.shape[3];
        long ho = gy.shape[2], wo = gy.shape[3], coutG = cout / g.Groups;
        var result = ConvolutionComparison.None;
        foreach (var (co, cil, ky, kx) in InputPositions(rng, samples, cout, cinG, kh, kw))
        {
            using var inner = NewDisposeScope();
            var ci = co / coutG * cinG + cil;
            var channel = nn.functional.pad(x[.., ci].to(float64), [g.PadW, g.PadW, g.PadH, g.PadH]);
            // Input pixel read by output (oy, ox) through tap (ky, kx): row oy·s + ky·d of the padded input.
            var rows = TensorIndex.Slice(ky * g.DilationH, ky * g.DilationH + g.StrideH * (ho - 1) + 1, g.StrideH);
            var cols = TensorIndex.Slice(kx * g.DilationW, kx * g.DilationW + g.StrideW * (wo - 1) + 1, g.StrideW);
            var shifted = channel[.., rows, cols];
            var grads = gy[.., co].to(float64);
            var reference = grads.mul(shifted).sum().reshape(1);
            var magnitude = grads.abs().mul(shifted.abs()).sum().reshape(1);
            result = result.Merge(Compare(gw[co, cil, ky, kx].reshape(1), reference, magnitude));
        }
        return result;
    }

    /// <summary>Compares the bias-gradient (the sum of the output-gradient over batch and space) in full.</summary>
    public static ConvolutionComparison BiasGradient(Tensor gy, Tensor gb)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = gy.to(float64);
        return Compare(gb, grads.sum([0L, 2L, 3L]), grads.abs().sum([0L, 2L, 3L]));
    }

    private static ConvolutionComparison Compare(Tensor got, Tensor reference, Tensor magnitude)
    {
        var value = got.detach().to(float64);
        var maxReference = reference.abs().max().item<double>();
        var maxMagnitude = magnitude.max().item<double>();
        // A non-finite kernel value is an error only where the reference itself is finite (NaN inputs give NaN).
        if (!value.isfinite().all().item<bool>() && reference.isfinite().all().item<bool>())
            return new ConvolutionComparison(double.PositiveInfinity, maxReference, maxMagnitude, true);
        return new ConvolutionComparison(value.sub(reference).abs().max().item<double>(), maxReference, maxMagnitude, false);
    }

    // Output positions: first and last always (borders are where padding and tails go wrong), the rest at random.
    private static IEnumerable<(long, long, long)> Positions(Random rng, int samples, long n, long ho, long wo)
    {
        yield return (0, 0, 0);
        yield return (n - 1, ho - 1, wo - 1);
        for (var i = 2; i < samples; i++) yield return (rng.NextInt64(n), rng.NextInt64(ho), rng.NextInt64(wo));
    }

    private static IEnumerable<(long, long, long, long)> InputPositions(Random rng, int samples, long a, long b, long c, long d)
    {
        yield return (0, 0, 0, 0);
        yield return (a - 1, b - 1, c - 1, d - 1);
        for (var i = 2; i < samples; i++) yield return (rng.NextInt64(a), rng.NextInt64(b), rng.NextInt64(c), rng.NextInt64(d));
    }
}
