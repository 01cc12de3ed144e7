namespace DaRcot.Rec.Checkpoints;

/// <summary>Guesses which network a state dict belongs to from its key names (official naming of each repo).</summary>
public static class CheckpointArchitecture
{
    /// <summary>DA-RCOT's transport network (official class MRCNet): a Restormer with a residual encoder.</summary>
    public const string DaRcot = "darcot";

    /// <summary>Restormer.</summary>
    public const string Restormer = "restormer";

    /// <summary>NAFNet (also NAFNetLocal, same keys).</summary>
    public const string NafNet = "nafnet";

    /// <summary>MPRNet.</summary>
    public const string MprNet = "mprnet";

    /// <summary>DA-RCOT's potential network (official class F_net).</summary>
    public const string PotentialNet = "potential";

    /// <summary>
    /// The architecture name for <paramref name="keys"/>, or null when no pattern fits. DA-RCOT: any
    /// <c>resencoder_level1.*</c>; Restormer: <c>patch_embed.proj.weight</c> and <c>encoder_level1.0.attn.qkv.weight</c>
    /// without a residual encoder; NAFNet: <c>intro.weight</c> and <c>encoders.*</c>; MPRNet: <c>shallow_feat1.0.weight</c>;
    /// potential network: <c>features.0.weight</c> and <c>fc.weight</c>.
    /// </summary>
    public static string? Infer(IEnumerable<string> keys)
    {
        var set = keys.Select(k => k.StartsWith("module.", StringComparison.Ordinal) ? k["module.".Length..] : k).ToHashSet(StringComparer.Ordinal);
        bool Prefix(string p) => set.Any(k => k.StartsWith(p, StringComparison.Ordinal));
        if (Prefix("resencoder_level1.")) return DaRcot;
        if (set.Contains("patch_embed.proj.weight") && set.Contains("encoder_level1.0.attn.qkv.weight")) return Restormer;
        if (set.Contains("intro.weight") && Prefix("encoders.")) return NafNet;
        if (set.Contains("shallow_feat1.0.weight")) return MprNet;
        if (set.Contains("features.0.weight") && set.Contains("fc.weight")) return PotentialNet;
        return null;
    }
}
