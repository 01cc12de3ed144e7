using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Runtime;

/// <summary>What was decided for one convolution key, for reports (<c>darcot doctor</c>) and tests.</summary>
/// <param name="Key">The key, in words.</param>
/// <param name="Path">How it is computed now.</param>
/// <param name="ForwardVerified">Forward checked against the reference.</param>
/// <param name="BackwardVerified">Input-, weight- and bias-gradients checked against the reference.</param>
/// <param name="Failures">Each rejected faster path with what was wrong (empty when the native kernel is right).</param>
public sealed record ConvolutionDecision(string Key, ConvolutionPath Path, bool ForwardVerified, bool BackwardVerified, IReadOnlyList<string> Failures);

/// <summary>
/// Runs every 2-D convolution of the library's models under <see cref="ConvolutionPolicy.Verified"/>: the first time a
/// key (shapes, geometry, layout, threads, dtype) is seen, the fast kernel's result is checked against a float64
/// reference at sampled points; gradients are checked the first time the key runs with autograd. A wrong result moves
/// that key — and only that key — down the <see cref="ConvolutionPath"/> ladder, logged once. Later calls with the key
/// cost a dictionary lookup.
/// </summary>
/// <remarks>
/// Why per key: libtorch's oneDNN picks a kernel per exact shape, layout and thread count, and on some machines
/// (see <c>shared/notes/libtorch-defects.md</c>) some of those kernels are wrong in forward or in the input-gradient
/// while neighbouring shapes are right, so no global switch is both correct and fast. Checks of the forward pass use
/// the call's own data when that is conclusive (no extra work) and a random probe of the same shape otherwise (a window of it
/// when the input exceeds 64 MiB);
/// gradient checks always use a random probe of the same shape, run once.
/// </remarks>
internal sealed class ConvolutionGuard
{
    // Relative error (vs the largest reference value at the sampled points) above which a kernel is wrong. Correct
    // float32 kernels measure ~1e-6 here, the known defects 0.2-0.9 or NaN.
    private const double Float32Tolerance = 1e-3;
    private const double BFloat16Tolerance = 5e-2;
    private const int Samples = 8;
    private const int MaxKeys = 4096;

    private static readonly AsyncLocal<ConvolutionGuard?> Scoped = new();

    /// <summary>The process-wide guard.</summary>
    public static ConvolutionGuard Shared { get; } = new(NativeConvolution);

    /// <summary>The guard for the calling flow: <see cref="Shared"/> unless a test installed its own with <see cref="Use"/>.</summary>
    public static ConvolutionGuard Current => Scoped.Value ?? Shared;

    /// <summary>Installs <paramref name="guard"/> for the calling async flow until disposed (tests inject faulty kernels this way
    /// without disturbing other threads).</summary>
    public static IDisposable Use(ConvolutionGuard guard)
    {
        var previous = Scoped.Value;
        Scoped.Value = guard;
        return new Restore(() => Scoped.Value = previous);
    }

    private readonly Func<Tensor, Tensor, Tensor?, ConvGeometry, Tensor> _kernel;
    private readonly bool _verify;
    private readonly ConcurrentDictionary<ConvolutionKey, Plan> _plans = new();

    /// <summary>Creates a guard over <paramref name="kernel"/> (libtorch's conv2d; tests pass a deliberately wrong one).
    /// <paramref name="verify"/> false calls the kernel unchecked, as <see cref="ConvolutionPolicy.Trusted"/> does.</summary>
    public ConvolutionGuard(Func<Tensor, Tensor, Tensor?, ConvGeometry, Tensor> kernel, bool verify = true)
    {
        _kernel = kernel;
        _verify = verify;
    }

    /// <summary>Receives one warning per key that needed a slower path. Null: <see cref="TorchRuntime.Logger"/>.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Keys seen so far and what was decided for each.</summary>
    public IReadOnlyList<ConvolutionDecision> Decisions =>
        _plans.Select(p => new ConvolutionDecision(p.Key.ToString(), p.Value.Path, p.Value.ForwardVerified, p.Value.BackwardVerified, p.Value.Failures))
              .OrderBy(d => d.Key, StringComparer.Ordinal).ToArray();

    /// <summary>The path of every key seen so far.</summary>
    internal IReadOnlyDictionary<ConvolutionKey, ConvolutionPath> Paths => _plans.ToDictionary(p => p.Key, p => p.Value.Path);

    /// <summary>libtorch's conv2d (zero padding).</summary>
    public static Tensor NativeConvolution(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g) =>
        nn.functional.conv2d(x, weight, bias, [g.StrideH, g.StrideW], [g.PadH, g.PadW], [g.DilationH, g.DilationW], g.Groups);

    /// <summary>conv2d(x, weight, bias) computed as the policy and this machine's verified kernels say.</summary>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g)
    {
        var policy = TorchRuntime.EnsureInitialized().Convolutions;
        if (!_verify || policy != ConvolutionPolicy.Verified || x.device_type != DeviceType.CPU || x.dim() != 4 ||
            (x.dtype != ScalarType.Float32 && x.dtype != ScalarType.BFloat16))
            return _kernel(x, weight, bias, g);

        var channelsLast = IsChannelsLast(x);
        // Other strided layouts (channel slices of a batch, transposes) are copied by libtorch anyway; copy them here so
        // the key describes what the kernel sees.
        using var contiguous = channelsLast || x.is_contiguous() ? null : x.contiguous();
        var input = contiguous ?? x;
        var key = ConvolutionKey.Of(input, weight, bias, g, channelsLast, torch.get_num_threads());
        var needsBackward = torch.is_grad_enabled() && (input.requires_grad || weight.requires_grad || bias?.requires_grad == true);
        if (_plans.TryGetValue(key, out var plan) && plan.ForwardVerified && (plan.BackwardVerified || !needsBackward))
            return RunPath(plan.Path, input, weight, bias, g);
        return Verify(key, plan, input, weight, bias, g, needsBackward);
    }

    private Tensor Verify(ConvolutionKey key, Plan? plan, Tensor x, Tensor weight, Tensor? bias, ConvGeometry g, bool needsBackward)
    {
        if (_plans.Count >= MaxKeys) _plans.Clear();
        var failures = new List<string>(plan?.Failures ?? []);
        var tolerance = ToleranceFor(key.Dtype);
        var path = plan?.Path ?? ConvolutionPath.Native;
        while (true)
        {
            var backwardVerified = plan is not null && plan.Path == path && plan.BackwardVerified;
            var forwardVerified = plan is not null && plan.Path == path && plan.ForwardVerified;
            string? problem = null;
            if (path != ConvolutionPath.Float64 && needsBackward && !backwardVerified)
            {
                problem = Probe(path, key, weight, bias, g, tolerance, backward: true);
                forwardVerified = backwardVerified = problem is null;
            }
            if (problem is null)
            {
                var y = RunPath(path, x, weight, bias, g);
                if (path == ConvolutionPath.Float64 || forwardVerified)
                    return Adopt(key, path, true, backwardVerified || path == ConvolutionPath.Float64, failures, y);
                // The call's own result, checked at sampled points, settles the forward when the data are not degenerate.
                var own = SampledConvolutionReference.Forward(x, weight, bias, g, y, new Random(StableSeed(key.ToString())), Samples);
                if (own.WellConditioned && own.Within(tolerance))
                    return Adopt(key, path, true, backwardVerified, failures, y);
                problem = Probe(path, key, weight, bias, g, tolerance, backward: false);
                if (problem is null) return Adopt(key, path, true, backwardVerified, failures, y);
                y.Dispose();
            }
            failures.Add($"{path}: {problem}");
            path = Next(path, key);
            _plans[key] = new Plan(path, false, false, failures.ToArray());
        }
    }

    private Tensor Adopt(ConvolutionKey key, ConvolutionPath path, bool forward, bool backward, List<string> failures, Tensor y)
    {
        var isNew = !_plans.TryGetValue(key, out var old) || old.Failures.Count != failures.Count;
        _plans[key] = new Plan(path, forward, backward, failures.ToArray());
        if (path != ConvolutionPath.Native && isNew)
            (Logger ?? TorchRuntime.Logger).LogWarning(
                "libtorch computed {Key} wrongly on this machine ({Failures}); using the {Path} path for it from now on.",
                key, string.Join("; ", failures), path);
        return y;
    }

    /// <summary>Runs <paramref name="path"/> on random data of the key's shape and compares it with the reference.
    /// Returns null when right, otherwise what was wrong.</summary>
    private string? Probe(ConvolutionPath path, ConvolutionKey key, Tensor weight, Tensor? bias, ConvGeometry g, double tolerance, bool backward)
    {
        var outcome = Measure((x, w, b) => RunPath(path, x, w, b, g), key, weight.shape, bias?.shape, g, backward);
        return outcome.Problem(tolerance);
    }

    /// <summary>
    /// Runs <paramref name="convolution"/> on seeded random data of the key's shape (input in the key's layout, weights
    /// scaled by 1/√fan-in, a random output-gradient) and compares forward and, when <paramref name="backward"/>, the
    /// input-, weight- and bias-gradients with the float64 reference at sampled points. Uses its own generator, so the
    /// global random stream is untouched.
    /// </summary>
    internal static ProbeOutcome Measure(Func<Tensor, Tensor, Tensor?, Tensor> convolution, ConvolutionKey key, long[] weightShape, long[]? biasShape, ConvGeometry g, bool backward)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad(backward);
        var seed = StableSeed(key.ToString());
        using var generator = new Generator((ulong)seed);
        var rng = new Random(seed);
        var (height, width) = ProbeSize(key);
        var x = randn([key.Batch, key.InChannels, height, width], dtype: key.Dtype, generator: generator);
        if (key.ChannelsLast) x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        var fanIn = weightShape[1] * weightShape[2] * weightShape[3];
        var w = randn(weightShape, dtype: key.Dtype, generator: generator).DividedBy(Math.Sqrt(fanIn));
        var b = biasShape is null ? null : randn(biasShape, dtype: key.Dtype, generator: generator);
        x.requires_grad_(backward);
        w.requires_grad_(backward);
        b?.requires_grad_(backward);
        var y = convolution(x, w, b);
        var forward = SampledConvolutionReference.Forward(x, w, b, g, y, rng, Samples);
        if (!backward) return new ProbeOutcome(forward, null, null, null);

        var gy = randn(y.shape, dtype: key.Dtype, generator: generator);
        var inputs = b is null ? new[] { x, w } : new[] { x, w, b };
        var grads = torch.autograd.grad([y], inputs, [gy]);
        return new ProbeOutcome(forward,
            SampledConvolutionReference.InputGradient(gy, w, g, grads[0], rng, Samples),
            SampledConvolutionReference.WeightGradient(x, gy, g, grads[1], rng, Samples),
            b is null ? null : SampledConvolutionReference.BiasGradient(gy, grads[2]));
    }

    // Probes use the key's own shape, so that libtorch picks the same kernel as for the real call, up to a cap on the
    // probe input (64 MiB of float32): a huge image is probed on a centre-sized window of the same batch and channels.
    private const long MaxProbeElements = 16L << 20;

    private static (long Height, long Width) ProbeSize(ConvolutionKey key)
    {
        var elements = key.Batch * key.InChannels * key.Height * key.Width;
        if (elements <= MaxProbeElements) return (key.Height, key.Width);
        var scale = Math.Sqrt((double)MaxProbeElements / elements);
        long minH = key.Geometry.DilationH * (key.KernelH - 1) + 1, minW = key.Geometry.DilationW * (key.KernelW - 1) + 1;
        return (Math.Max(minH, (long)(key.Height * scale)), Math.Max(minW, (long)(key.Width * scale)));
    }

    /// <summary>Relative tolerance for <paramref name="dtype"/>.</summary>
    internal static double ToleranceFor(ScalarType dtype) => dtype == ScalarType.BFloat16 ? BFloat16Tolerance : Float32Tolerance;

    // FNV-1a: the same seed for the same key in every process (string.GetHashCode is randomised per process).
    private static int StableSeed(string text)
    {
        var hash = 2166136261u;
        foreach (var ch in text) hash = (hash ^ ch) * 16777619u;
        return (int)(hash & 0x7FFFFFFF);
    }

    private static ConvolutionPath Next(ConvolutionPath path, ConvolutionKey key) => path switch
    {
        ConvolutionPath.Native when key.ChannelsLast => ConvolutionPath.Contiguous,
        ConvolutionPath.Native or ConvolutionPath.Contiguous when key.Geometry.Groups == 1 => ConvolutionPath.ChannelPadded,
        _ => ConvolutionPath.Float64,
    };

    internal Tensor RunPath(ConvolutionPath path, Tensor x, Tensor weight, Tensor? bias, ConvGeometry g)
    {
        switch (path)
        {
            case ConvolutionPath.Native:
                return _kernel(x, weight, bias, g);
            case ConvolutionPath.Contiguous:
            {
                using var c = x.contiguous();
                return _kernel(c, weight, bias, g);
            }
            case ConvolutionPath.ChannelPadded:
                return RunChannelPadded(x, weight, bias, g);
            default:
            {
                using var scope = NewDisposeScope();
                var y = _kernel(x.to(float64), weight.to(float64), bias?.to(float64), g).to(x.dtype);
                return y.MoveToOuterDisposeScope();
            }
        }
    }

    // Zero input channels meet zero weight slices and the extra filters are cut away again, so the result is the same
    // convolution; all of it is ordinary autograd, so gradients (and second derivatives) follow.
    private Tensor RunChannelPadded(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g)
    {
        using var scope = NewDisposeScope();
        long cin = x.shape[1], cout = weight.shape[0];
        long padIn = RoundUp16(cin) - cin, padOut = RoundUp16(cout) - cout;
        var input = nn.functional.pad(x.contiguous(), [0, 0, 0, 0, 0, padIn]);
        var w = nn.functional.pad(weight, [0, 0, 0, 0, 0, padIn, 0, padOut]);
        var b = bias is null ? null : nn.functional.pad(bias, [0, padOut]);
        var y = _kernel(input, w, b, g);
        if (padOut > 0) y = y.narrow(1, 0, cout);
        return y.MoveToOuterDisposeScope();
    }

    private static long RoundUp16(long c) => (c + 15) / 16 * 16;

    /// <summary>True for an NCHW tensor stored as NHWC (what <c>permute(0,2,3,1).contiguous().permute(0,3,1,2)</c> and
    /// libtorch's channels-last format give), excluding shapes where both layouts coincide.</summary>
    internal static bool IsChannelsLast(Tensor x)
    {
        if (x.dim() != 4 || x.is_contiguous()) return false;
        var s = x.stride();
        long c = x.shape[1], h = x.shape[2], w = x.shape[3];
        return s[1] == 1 && (w == 1 || s[3] == c) && (h == 1 || s[2] == w * c);
    }

    /// <summary>The comparisons of one probe (gradients null when not measured).</summary>
    internal sealed record ProbeOutcome(ConvolutionComparison Forward, ConvolutionComparison? InputGradient, ConvolutionComparison? WeightGradient, ConvolutionComparison? BiasGradient)
    {
        /// <summary>Null when every measured comparison is within <paramref name="tolerance"/>, otherwise the first problem.</summary>
        public string? Problem(double tolerance)
        {
            if (!Forward.Within(tolerance)) return $"forward relative error {Forward.RelativeError:G2}";
            if (InputGradient is { } i && !i.Within(tolerance)) return $"input-gradient relative error {i.RelativeError:G2}";
            if (WeightGradient is { } w && !w.Within(tolerance)) return $"weight-gradient relative error {w.RelativeError:G2}";
            if (BiasGradient is { } b && !b.Within(tolerance)) return $"bias-gradient relative error {b.RelativeError:G2}";
            return null;
        }
    }

    private sealed record Plan(ConvolutionPath Path, bool ForwardVerified, bool BackwardVerified, IReadOnlyList<string> Failures);

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
