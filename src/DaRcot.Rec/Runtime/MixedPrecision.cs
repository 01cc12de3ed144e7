using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Runtime;

/// <summary>The number format a model computes in at inference time.</summary>
public enum InferencePrecision
{
    /// <summary>float32 everywhere (default; what the parity tests check).</summary>
    Float32,

    /// <summary>
    /// bfloat16 mixed precision: convolutions and attention matmuls in bfloat16 on channels-last memory (fp32
    /// accumulation inside the kernels); normalisation statistics, softmax, residual sums with float32 tensors and the
    /// output in float32. See <see cref="MixedPrecision"/>.
    /// </summary>
    BFloat16,
}

/// <summary>
/// A scope in which the library's layers run inference in bfloat16 mixed precision on the calling thread
/// (<see cref="InferencePrecision.BFloat16"/>): every <see cref="VerifiedConv2d"/> between feature maps (not the
/// image-facing ones, see <see cref="KeepsFloat32"/>) casts its input to bfloat16 in
/// channels-last memory and uses a bfloat16 copy of its weights made once per scope; its output stays bfloat16, so the
/// element-wise work between convolutions moves half the bytes. Anything combined with a float32 tensor (a residual
/// sum with the input, a learnable scale) is promoted back to float32 by libtorch's type promotion; layer norms keep
/// float32 statistics; the attention softmax runs in float32. <see cref="Inference.Restorer"/> returns float32.
/// </summary>
/// <remarks>
/// Why a scope and not a model conversion: the weights stay float32 (checkpoints, training and parity are unchanged),
/// and the bfloat16 weight copies live only as long as the scope. Why channels-last: on CPUs with AVX-512 BF16 (no
/// AMX) oneDNN's bfloat16 convolutions are 2–6× faster than float32 only on channels-last memory; on NCHW memory they
/// reorder and most of the gain is lost (measured on this project's AMD EPYC at 2 threads, 1×48×256×256: a 1×1
/// convolution to 144 channels took 12.7 ms in float32 and 2.3 ms in bfloat16 on channels-last memory, 15.6 ms in
/// bfloat16 on NCHW memory; a 3×3 48→48 one 12.6 ms and 6.5 ms). Inference only: a scope refuses to
/// start while autograd records, because the weight copies are not connected to the parameters.
/// </remarks>
public sealed class MixedPrecision : IDisposable
{
    [ThreadStatic] private static MixedPrecision? t_current;

    private readonly MixedPrecision? _previous;
    private readonly Dictionary<IntPtr, Tensor> _lowPrecisionWeights = new();
    private bool _disposed;

    private MixedPrecision()
    {
        _previous = t_current;
        t_current = this;
    }

    /// <summary>Starts computing in <paramref name="precision"/> on this thread until the result is disposed
    /// (<see cref="InferencePrecision.Float32"/>: a scope that changes nothing).</summary>
    /// <exception cref="InvalidOperationException">bfloat16 requested while autograd records (call it under <c>no_grad</c>).</exception>
    public static IDisposable Enter(InferencePrecision precision)
    {
        if (precision == InferencePrecision.Float32) return NoScope.Instance;
        if (torch.is_grad_enabled())
            throw new InvalidOperationException("bfloat16 mixed precision is for inference: enter it under torch.no_grad() (training runs in float32).");
        return new MixedPrecision();
    }

    /// <summary>Parses <c>fp32</c>/<c>float32</c> or <c>bf16</c>/<c>bfloat16</c> (case-insensitive).</summary>
    /// <exception cref="ModelConfigException">Any other value; the message lists the valid ones.</exception>
    public static InferencePrecision Parse(string value, string field)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Trim().ToLowerInvariant() switch
        {
            "fp32" or "float32" => InferencePrecision.Float32,
            "bf16" or "bfloat16" => InferencePrecision.BFloat16,
            _ => throw new ModelConfigException(field, $"'{value}' is not a precision; use fp32 or bf16."),
        };
    }

    /// <summary>The most channels an image has (RGB + alpha): a convolution with this few on either side reads or
    /// writes the image itself.</summary>
    public const long ImageChannels = 4;

    /// <summary>
    /// Whether a convolution stays float32 under mixed precision: those that read or write the image itself (at most
    /// <see cref="ImageChannels"/> channels in or out: the first feature extraction, the REC residual encoder's input,
    /// every layer that produces an image). They cost little (few channels), and in them bfloat16's 8 significant bits
    /// act directly on pixel values: measured with the bundled model on a held-out low-light crop, bfloat16 everywhere
    /// moved the PSNR by 0.097 dB, with these in float32 by 0.014 dB.
    /// </summary>
    public static bool KeepsFloat32(long inChannels, long outChannels) => Math.Min(inChannels, outChannels) <= ImageChannels;

    /// <summary>The scope active on this thread, or null (float32).</summary>
    internal static MixedPrecision? Current => t_current;

    /// <summary><paramref name="x"/> [N,C,H,W] as bfloat16 channels-last: <paramref name="x"/> itself when it already is,
    /// otherwise a new tensor (made in one pass), which <paramref name="owned"/> says the caller must dispose.</summary>
    internal static Tensor ToLowPrecision(Tensor x, out bool owned)
    {
        owned = true;
        var channelsLast = ConvolutionGuard.IsChannelsLast(x);
        if (x.dtype == ScalarType.BFloat16 && channelsLast)
        {
            owned = false;
            return x;
        }
        // A dense channels-last tensor keeps its strides through a dtype conversion; anything else is written into
        // NHWC memory while converting, so one pass does both.
        if (channelsLast) return x.to(ScalarType.BFloat16);
        using var nhwc = empty(x.shape[0], x.shape[2], x.shape[3], x.shape[1], dtype: ScalarType.BFloat16, device: x.device);
        using var source = x.permute(0, 2, 3, 1);
        nhwc.copy_(source);
        return nhwc.permute(0, 3, 1, 2);
    }

    /// <summary>The bfloat16 copy of <paramref name="weight"/> for this scope (made at first use, freed with the scope).</summary>
    internal Tensor LowPrecision(Tensor weight)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_lowPrecisionWeights.TryGetValue(weight.Handle, out var copy))
        {
            using var noGrad = no_grad();
            copy = weight.to(ScalarType.BFloat16).contiguous();
            // Owned by this scope, not by whatever dispose scope the forward pass that first needed it runs in.
            copy.DetachFromDisposeScope();
            _lowPrecisionWeights[weight.Handle] = copy;
        }
        return copy;
    }

    /// <summary>Ends the scope on this thread and frees the bfloat16 weight copies.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (ReferenceEquals(t_current, this)) t_current = _previous;
        foreach (var copy in _lowPrecisionWeights.Values) copy.Dispose();
        _lowPrecisionWeights.Clear();
    }

    private sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }
}
