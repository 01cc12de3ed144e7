using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Imaging;

/// <summary>How an image is extended bottom/right to a size multiple before a network runs.</summary>
public enum PadMode
{
    /// <summary>Mirror without repeating the edge row/column (the official Restormer and MPRNet scripts,
    /// <c>F.pad(..., 'reflect')</c>). Falls back to <see cref="Replicate"/> when the pad is ≥ the image side,
    /// where reflection is undefined.</summary>
    Reflect,

    /// <summary>Repeat the last row/column; defined for any pad.</summary>
    Replicate,

    /// <summary>Zeros (what NAFNet does inside its forward).</summary>
    Zero,
}

/// <summary>
/// Bottom/right padding to a multiple of the network's size requirement, and the crop back, as the official test
/// scripts do (the top-left corner stays where it is, so cropping the output is a plain slice).
/// </summary>
public static class Padding
{
    /// <summary>The pad (bottom, right) that brings <paramref name="height"/>×<paramref name="width"/> to multiples
    /// of <paramref name="multiple"/>; zero when already a multiple.</summary>
    public static (long Bottom, long Right) Amount(long height, long width, int multiple)
    {
        if (multiple < 1) throw new ArgumentOutOfRangeException(nameof(multiple), multiple, "The size multiple must be ≥ 1.");
        return ((multiple - height % multiple) % multiple, (multiple - width % multiple) % multiple);
    }

    /// <summary>
    /// Pads <paramref name="x"/> (NCHW or CHW) on the bottom and right so that H and W are multiples of
    /// <paramref name="multiple"/>. Returns a new tensor, or an alias of <paramref name="x"/> when nothing is needed
    /// (the official scripts skip padding then). Reflect falls back to replicate on sides too small to mirror
    /// (pad ≥ side), e.g. a 3-pixel-high image padded to 8.
    /// </summary>
    public static Tensor PadToMultiple(Tensor x, int multiple, PadMode mode)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() < 3) throw new ArgumentException($"Expected a CHW or NCHW tensor, got rank {x.dim()}.", nameof(x));
        long h = x.shape[^2], w = x.shape[^1];
        var (bottom, right) = Amount(h, w, multiple);
        if (bottom == 0 && right == 0) return x.alias();
        if (mode == PadMode.Reflect && (bottom >= h || right >= w)) mode = PadMode.Replicate;
        var pad = new long[] { 0, right, 0, bottom };
        // Replicate/reflect in libtorch need a batch dimension for 3-D inputs; add one and drop it again.
        var batched = x.dim() == 3 ? x.unsqueeze(0) : x.alias();
        try
        {
            var padded = mode switch
            {
                PadMode.Zero => nn.functional.pad(batched, pad, PaddingModes.Constant, 0),
                PadMode.Reflect => nn.functional.pad(batched, pad, PaddingModes.Reflect),
                _ => nn.functional.pad(batched, pad, PaddingModes.Replicate),
            };
            if (x.dim() != 3) return padded;
            using (padded) return padded.squeeze(0);
        }
        finally
        {
            batched.Dispose();
        }
    }

    /// <summary>The top-left <paramref name="height"/>×<paramref name="width"/> of <paramref name="x"/> (NCHW or CHW),
    /// as a contiguous tensor.</summary>
    public static Tensor Crop(Tensor x, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.shape[^2] < height || x.shape[^1] < width)
            throw new ArgumentException($"Cannot crop [{string.Join(",", x.shape)}] to {height}×{width}.", nameof(x));
        using var view = x[TensorIndex.Ellipsis, TensorIndex.Slice(0, height), TensorIndex.Slice(0, width)];
        return view.contiguous();
    }

    /// <summary>Like <see cref="Crop"/>, but returns <paramref name="x"/> itself (no copy) when it already is
    /// <paramref name="height"/>×<paramref name="width"/> — the common aligned case inside a forward pass. Use it only
    /// where the caller does not dispose input and result separately (e.g. inside one dispose scope).</summary>
    public static Tensor CropIfPadded(Tensor x, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x.shape[^2] == height && x.shape[^1] == width ? x : Crop(x, height, width);
    }
}
