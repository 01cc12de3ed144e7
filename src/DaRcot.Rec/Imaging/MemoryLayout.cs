using static TorchSharp.torch;

namespace DaRcot.Rec.Imaging;

/// <summary>Memory layouts of image batches.</summary>
public static class MemoryLayout
{
    /// <summary>
    /// <paramref name="x"/> [N,C,H,W] in channels-last memory (NHWC order, still indexed as NCHW; libtorch's
    /// <c>channels_last</c>), made in one copy; other ranks and single-channel tensors are returned as they are. The
    /// library's layers keep the layout, which is what <see cref="Inference.RestorerOptions.ChannelsLast"/> uses.
    /// </summary>
    public static Tensor ToChannelsLast(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x.dim() != 4 || x.shape[1] == 1 ? x : x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
    }
}
