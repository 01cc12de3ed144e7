using DaRcot.Rec.Imaging;
using TorchSharp;
using static TorchSharp.torch;
using Padding = DaRcot.Rec.Imaging.Padding;

namespace DaRcot.Rec.Tests.Inference;

public class PaddingTests
{
    // 3×5 image with value 10·row + col.
    private static Tensor Grid(long h, long w) => (arange(h).view(h, 1) * 10 + arange(w).view(1, w)).to(float32).view(1, 1, h, w);

    private static float At(Tensor t, long i, long j) => t[0, 0, i, j].item<float>();

    [Fact]
    public void Reflect_mirrors_without_repeating_the_edge_bottom_and_right_only()
    {
        using var x = Grid(3, 5);
        using var y = Padding.PadToMultiple(x, 4, PadMode.Reflect);
        Assert.Equal(new long[] { 1, 1, 4, 8 }, y.shape);
        // Rows 0,1,2 then reflect → row 1; columns 0..4 then 3,2,1.
        Assert.Equal(12, At(y, 3, 2)); // row 1, col 2
        Assert.Equal(23, At(y, 2, 5)); // row 2, col 3
        Assert.Equal(21, At(y, 2, 7)); // row 2, col 1
        Assert.Equal(11, At(y, 3, 7)); // row 1, col 1
        Assert.Equal(0, At(y, 0, 0));  // the top-left corner does not move
    }

    [Fact]
    public void Reflect_falls_back_to_replicate_when_the_pad_is_not_smaller_than_the_side()
    {
        using var x = Grid(2, 3); // to 8×8: pads of 6 and 5 exceed the sides
        using var y = Padding.PadToMultiple(x, 8, PadMode.Reflect);
        Assert.Equal(new long[] { 1, 1, 8, 8 }, y.shape);
        Assert.Equal(12, At(y, 7, 7)); // last row (1), last column (2)
        Assert.Equal(10, At(y, 5, 0));
    }

    [Fact]
    public void Zero_and_replicate_pads_and_crop_restores_the_original()
    {
        using var x = Grid(3, 5);
        using var z = Padding.PadToMultiple(x, 16, PadMode.Zero);
        Assert.Equal(new long[] { 1, 1, 16, 16 }, z.shape);
        Assert.Equal(0, At(z, 15, 15));
        Assert.Equal(0, At(z, 1, 9));
        using var r = Padding.PadToMultiple(x, 8, PadMode.Replicate);
        Assert.Equal(24, At(r, 6, 7));
        using var back = Padding.Crop(r, 3, 5);
        Assert.Equal(0, (back - x).abs().max().item<float>());

        // Already a multiple: unchanged; CHW works too.
        using var same = Padding.PadToMultiple(x, 1, PadMode.Reflect);
        Assert.Equal(x.shape, same.shape);
        using var chw = Padding.PadToMultiple(x[0], 4, PadMode.Reflect);
        Assert.Equal(new long[] { 1, 4, 8 }, chw.shape);
        Assert.Equal((4L, 3L), Padding.Amount(12, 5, 8));
    }
}
