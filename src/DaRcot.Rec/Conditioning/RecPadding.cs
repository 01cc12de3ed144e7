using DaRcot.Rec.Imaging;
using static TorchSharp.torch;

namespace DaRcot.Rec.Conditioning;

/// <summary>Bottom/right padding to a size multiple and the matching crop, for the REC wrappers.</summary>
internal static class RecPadding
{
    /// <summary>Pads <paramref name="x"/> (NCHW) so H and W are multiples of <paramref name="multiple"/>
    /// (<see cref="Padding.PadToMultiple"/>; reflect falls back to replicate where the pad is not smaller than the side).</summary>
    public static Tensor PadTo(Tensor x, int multiple, PadMode mode) => Padding.PadToMultiple(x, multiple, mode);

    /// <summary>The top-left <paramref name="h"/>×<paramref name="w"/> of <paramref name="x"/>; <paramref name="x"/>
    /// itself when it already has that size (no copy in the common aligned case).</summary>
    public static Tensor Crop(Tensor x, long h, long w) =>
        x.shape[^2] == h && x.shape[^1] == w ? x : Padding.Crop(x, h, w);
}
