using DaRcot.Rec.Errors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Potentials;

/// <summary>
/// The official DA-RCOT potential network <c>F_net(patch_size)</c> (spec §3): ten convs with LeakyReLU(0.2) and no
/// normalisation, then <c>fc</c> (patch²/2 → patch²/8, no activation), <c>fc1</c> (→64), LeakyReLU, <c>fc2</c> (→1).
/// State-dict keys match the official module exactly, so official potential weights load strictly.
/// </summary>
/// <remarks>The flattening before <c>fc</c> fixes the input size to patch×patch; use <see cref="PooledCritic"/>
/// for other sizes.</remarks>
public sealed class OfficialCritic : nn.Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly Linear fc;
    private readonly Linear fc1;
    private readonly Linear fc2;

    /// <summary>Builds F_net for square inputs of <paramref name="patchSize"/> (a positive multiple of 32;
    /// official 128, 30,588,609 parameters).</summary>
    /// <exception cref="ModelConfigException">The patch size is not a positive multiple of 32.</exception>
    public OfficialCritic(int patchSize = 128) : base("F_net")
    {
        if (patchSize <= 0 || patchSize % 32 != 0)
            throw new ModelConfigException("patch_size", $"must be a positive multiple of 32, got {patchSize}.");
        PatchSize = patchSize;
        var numFea = patchSize * patchSize / 2;
        features = CriticTrunk.Build();
        fc = nn.Linear(numFea, numFea / 4);
        fc1 = nn.Linear(numFea / 4, 64);
        fc2 = nn.Linear(64, 1);
        RegisterComponents();
    }

    /// <summary>The only input size accepted (patch×patch).</summary>
    public int PatchSize { get; }

    /// <summary>Returns φ(x) with shape [B].</summary>
    /// <exception cref="TensorArgumentException">The input is not [B,3,patch,patch].</exception>
    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4 || input.shape[1] != 3 || input.shape[2] != PatchSize || input.shape[3] != PatchSize)
            throw new TensorArgumentException("input",
                $"F_net({PatchSize}) accepts only [B,3,{PatchSize},{PatchSize}] patches, got [{string.Join(",", input.shape)}]; crop patches or use PooledCritic for other sizes.");
        using var scope = NewDisposeScope();
        var h = features.call(input);
        h = h.reshape(h.shape[0], -1);
        h = fc.call(h);
        h = fc1.call(h).leaky_relu(CriticTrunk.NegativeSlope);
        return fc2.call(h).reshape(-1).MoveToOuterDisposeScope();
    }
}
