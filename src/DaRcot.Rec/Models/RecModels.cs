using DaRcot.Rec.Imaging;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Conditioning;
using Microsoft.Extensions.Logging;

namespace DaRcot.Rec.Models;

/// <summary>
/// The paper's plug-in compositions (its Table XI): Restormer, NAFNet and MPRNet wrapped by the generic
/// <see cref="ResidualConditionedMap"/>, built only from the backbones' hooks. With the default options the
/// injection is zero-initialised, so a wrapped pretrained backbone (load its official state_dict into the
/// <c>backbone.</c> subtree) starts exactly at its own output; pass options with
/// <see cref="InjectorKind.ScaledAdditionFusion"/> to train the official operator from scratch.
/// </summary>
/// <remarks>
/// Condition points (the backbones' decoder-side hooks, all conditioned by default):
/// <list type="table">
/// <item><term>Restormer</term><description>1/8 (8·dim), 1/4 (4·dim), 1/2 (2·dim), 1 (2·dim).</description></item>
/// <item><term>NAFNet</term><description>decoder inputs at 1/8 … 1 (8w … w) for the official 4-level configs.</description></item>
/// <item><term>MPRNet</term><description>1/4, 1/2, 1 of the merged stage-2 decoder (and optionally stage 3's input at 1).
/// MPRNet's U-Nets have three levels, so there is <b>no 1/8 point</b>: a request for 1/8 is skipped (listed in
/// <see cref="ResidualConditionedMap.SkippedDownscales"/> and logged). The REGM still encodes the residual down to
/// 1/8 — that is the dense embedding used by the contrastive loss and degradation identification — and its
/// decoder carries that information up into the 1/4 embedding, so nothing of the coarse residual is lost; only no
/// feature is injected at a level MPRNet does not have.</description></item>
/// </list>
/// When <c>options</c> is null the inputs are padded as the official test scripts pad for that backbone (reflect for
/// Restormer and MPRNet, zeros for NAFNet, which is also what NAFNet does internally).
/// </remarks>
public static class RecModels
{
    /// <summary>Restormer + REC.</summary>
    public static ResidualConditionedMap RestormerRec(RestormerConfig? config = null, RecOptions? options = null, ILogger? logger = null) =>
        new(Restormer.Create(config), options ?? new RecOptions { PadMode = PadMode.Reflect }, logger);

    /// <summary>NAFNet + REC (the wrapper zero-pads to NAFNet's multiple, so its internal padding is a no-op).</summary>
    public static ResidualConditionedMap NAFNetRec(NAFNetConfig? config = null, RecOptions? options = null, ILogger? logger = null) =>
        new(NAFNet.Create(config), options ?? new RecOptions { PadMode = PadMode.Zero }, logger);

    /// <summary>MPRNet + REC. <paramref name="conditionStage3"/> also conditions stage 3's full-resolution input
    /// (it shares the full-resolution embedding). MPRNet has no 1/8 point; see the class remarks.</summary>
    public static ResidualConditionedMap MPRNetRec(MPRNetConfig? config = null, RecOptions? options = null, bool conditionStage3 = false, ILogger? logger = null) =>
        new(MPRNet.Create(config, conditionStage3), options ?? new RecOptions { PadMode = PadMode.Reflect }, logger);
}
