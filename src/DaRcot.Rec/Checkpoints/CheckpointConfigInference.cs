using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace DaRcot.Rec.Checkpoints;

/// <summary>
/// Reads a network's official constructor arguments back from its state dict (key names and shapes), so that a
/// checkpoint trained with a non-default configuration can be loaded without guessing: Restormer and NAFNet. The
/// result is the JSON that <c>--config</c> / <see cref="Models.ModelFactory"/> take.
/// </summary>
public static partial class CheckpointConfigInference
{
    /// <summary>The configuration of <paramref name="arch"/> (<c>restormer</c> or <c>nafnet</c>) implied by
    /// <paramref name="tensors"/>, or null for other architectures or when the keys are not the official ones.</summary>
    public static JsonObject? Infer(string arch, IReadOnlyList<CheckpointTensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(arch);
        ArgumentNullException.ThrowIfNull(tensors);
        var shapes = tensors.ToDictionary(t => t.Name.StartsWith("module.", StringComparison.Ordinal) ? t.Name["module.".Length..] : t.Name, t => t.Shape, StringComparer.Ordinal);
        return arch switch
        {
            CheckpointArchitecture.Restormer => Restormer(shapes),
            CheckpointArchitecture.NafNet => NafNet(shapes),
            _ => null,
        };
    }

    private static JsonObject? Restormer(IReadOnlyDictionary<string, IReadOnlyList<long>> s)
    {
        if (!s.TryGetValue("patch_embed.proj.weight", out var patch) || !s.TryGetValue("output.weight", out var output)) return null;
        var dim = patch[0];
        var levels = new[] { "encoder_level1", "encoder_level2", "encoder_level3", "latent" };
        var blocks = levels.Select(l => Count(s, l)).ToArray();
        if (blocks.Any(b => b == 0)) return null;
        var heads = levels.Select(l => s.TryGetValue($"{l}.0.attn.temperature", out var t) ? t[0] : 0).ToArray();
        // hidden = int(dim × factor) in the official FeedForward; 2.66 (the default) when it reproduces the width.
        var hidden = s.TryGetValue("encoder_level1.0.ffn.project_out.weight", out var po) ? po[1] : 0;
        var factor = (long)(dim * 2.66) == hidden ? 2.66 : Math.Round((double)hidden / dim, 4);
        return new JsonObject
        {
            ["inp_channels"] = patch[1],
            ["out_channels"] = output[0],
            ["dim"] = dim,
            ["num_blocks"] = Array(blocks),
            ["num_refinement_blocks"] = Count(s, "refinement"),
            ["heads"] = Array(heads),
            ["ffn_expansion_factor"] = factor,
            ["bias"] = s.ContainsKey("encoder_level1.0.attn.qkv.bias"),
            ["LayerNorm_type"] = s.ContainsKey("encoder_level1.0.norm1.body.bias") ? "WithBias" : "BiasFree",
            ["dual_pixel_task"] = s.ContainsKey("skip_conv.weight"),
        };
    }

    private static JsonObject? NafNet(IReadOnlyDictionary<string, IReadOnlyList<long>> s)
    {
        if (!s.TryGetValue("intro.weight", out var intro)) return null;
        // One down (up) sampler per level, so a level with no blocks still counts.
        var encoders = Levels(s, "encoders", Count(s, "downs"));
        var decoders = Levels(s, "decoders", Count(s, "ups"));
        return new JsonObject
        {
            ["img_channel"] = intro[1],
            ["width"] = intro[0],
            ["middle_blk_num"] = Count(s, "middle_blks"),
            ["enc_blk_nums"] = Array(encoders),
            ["dec_blk_nums"] = Array(decoders),
        };
    }

    /// <summary>Number of blocks <c>prefix.N.*</c>.</summary>
    private static long Count(IReadOnlyDictionary<string, IReadOnlyList<long>> s, string prefix) =>
        s.Keys.Where(k => k.StartsWith(prefix + ".", StringComparison.Ordinal))
            .Select(k => k[(prefix.Length + 1)..].Split('.')[0])
            .Where(n => n.All(char.IsAsciiDigit)).Distinct(StringComparer.Ordinal).Count();

    /// <summary>Blocks per level of <c>prefix.L.N.*</c> (levels in order).</summary>
    private static long[] Levels(IReadOnlyDictionary<string, IReadOnlyList<long>> s, string prefix, long levelCount)
    {
        var levels = new SortedDictionary<int, HashSet<string>>();
        for (var l = 0; l < levelCount; l++) levels[l] = new HashSet<string>(StringComparer.Ordinal);
        foreach (var k in s.Keys)
        {
            var m = LevelKey().Match(k);
            if (!m.Success || m.Groups[1].Value != prefix) continue;
            var level = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            if (!levels.TryGetValue(level, out var set)) levels[level] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(m.Groups[3].Value);
        }
        return levels.Values.Select(v => (long)v.Count).ToArray();
    }

    private static JsonArray Array(IEnumerable<long> values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray());

    [GeneratedRegex(@"^(encoders|decoders)\.(\d+)\.(\d+)\.")]
    private static partial Regex LevelKey();
}
