using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Conditioning;

/// <summary>How the REC wrappers extend an image bottom/right to the backbone's size multiple.</summary>
public enum RecPadMode
{
    /// <summary>Repeat the last row/column. Works for any size, even when the pad exceeds the image.</summary>
    Replicate,
    /// <summary>Mirror without repeating the edge (what the official Restormer scripts use). Needs pad &lt; size.</summary>
    Reflect,
    /// <summary>Zeros (what NAFNet pads with internally).</summary>
    Zero,
}

/// <summary>Bottom/right padding to a size multiple and the matching crop.</summary>
internal static class RecPadding
{
    /// <summary>Pads <paramref name="x"/> (NCHW) so H and W are multiples of <paramref name="multiple"/>; returns
    /// <paramref name="x"/> itself when nothing is needed.</summary>
    public static Tensor PadTo(Tensor x, int multiple, RecPadMode mode)
    {
        long h = x.shape[^2], w = x.shape[^1];
        long ph = (multiple - h % multiple) % multiple, pw = (multiple - w % multiple) % multiple;
        if (ph == 0 && pw == 0) return x;
        if (mode == RecPadMode.Reflect && (ph >= h || pw >= w))
            mode = RecPadMode.Replicate; // reflect cannot pad by more than size − 1; fall back rather than fail
        var padding = new long[] { 0, pw, 0, ph };
        return mode switch
        {
            RecPadMode.Zero => nn.functional.pad(x, padding, PaddingModes.Zeros),
            RecPadMode.Reflect => nn.functional.pad(x, padding, PaddingModes.Reflect),
            _ => nn.functional.pad(x, padding, PaddingModes.Replicate),
        };
    }

    /// <summary>The top-left <paramref name="h"/>×<paramref name="w"/> of <paramref name="x"/>; <paramref name="x"/>
    /// itself when it already has that size.</summary>
    public static Tensor Crop(Tensor x, long h, long w) =>
        x.shape[^2] == h && x.shape[^1] == w ? x : x[.., .., ..(int)h, ..(int)w];
}
