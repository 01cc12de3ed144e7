using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Samplers;

/// <summary>Which of the eight flip/rotation modes may be drawn.</summary>
public enum AugmentationPolicy
{
    /// <summary>Official: a mode from 1..7, so a flip or rotation is always applied (identity is never chosen).</summary>
    OfficialNoIdentity = 0,

    /// <summary>All eight modes 0..7 (the dihedral group, uniform).</summary>
    IncludeIdentity = 1,

    /// <summary>No augmentation (mode 0 always).</summary>
    None = 2,
}

/// <summary>
/// The official 8-way augmentation (<c>util/image_utils.data_augmentation</c>), on the last two axes (H, W):
/// 0 identity, 1 flip up–down, 2 rot90, 3 rot90 then flip up–down, 4 rot180, 5 rot180 then flip, 6 rot270,
/// 7 rot270 then flip. Rotations are counter-clockwise as numpy's <c>rot90</c> on an H×W×C array.
/// </summary>
public static class Augmentation
{
    /// <summary>Applies <paramref name="mode"/> (0..7) to a tensor whose last two axes are H and W.</summary>
    public static Tensor Apply(Tensor image, int mode)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.dim() < 2) throw new TensorArgumentException(nameof(image), "needs at least two dimensions (H, W).");
        if (mode is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(mode), mode, "mode must be within 0..7.");
        long hDim = image.dim() - 2, wDim = image.dim() - 1;
        using var scope = torch.NewDisposeScope();
        int k = mode switch { 2 or 3 => 1, 4 or 5 => 2, 6 or 7 => 3, _ => 0 };
        bool flip = mode is 1 or 3 or 5 or 7;
        // numpy.rot90(img) on H×W×C rotates the (H, W) plane counter-clockwise: torch.rot90 with dims (H, W) matches it.
        // rot90 and flip each return a new tensor, so only the identity needs an explicit copy (the result is always
        // a fresh tensor the caller may dispose); mode 1 flips the input directly instead of cloning it first.
        Tensor x;
        if (k == 0) x = flip ? image.flip(hDim) : image.clone();
        else
        {
            x = image.rot90(k, (hDim, wDim));
            if (flip) x = x.flip(hDim);
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Draws a mode under <paramref name="policy"/>.</summary>
    public static int DrawMode(Random random, AugmentationPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(random);
        return policy switch
        {
            AugmentationPolicy.OfficialNoIdentity => random.Next(1, 8),
            AugmentationPolicy.IncludeIdentity => random.Next(0, 8),
            _ => 0,
        };
    }
}
