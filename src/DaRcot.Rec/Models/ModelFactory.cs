using System.Text.Json;
using System.Text.Json.Serialization;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Models;

/// <summary>
/// What inference needs to know about an architecture besides its weights: how to pad inputs and where the
/// official checkpoints keep their state_dict.
/// </summary>
/// <param name="Arch">The factory name (e.g. <c>restormer</c>).</param>
/// <param name="SizeMultiple">Input H and W must be multiples of this after padding.</param>
/// <param name="PadMode">The official test scripts' padding (Restormer/MPRNet reflect, NAFNet zero).</param>
/// <param name="ContainerKey">The key of the state_dict inside official checkpoints (<c>params</c>,
/// <c>state_dict</c>, ...); null when the state_dict is the top-level object.</param>
/// <param name="InputChannels">Image channels the model reads.</param>
/// <param name="OutputChannels">Image channels the model writes.</param>
/// <param name="Config">The parsed configuration record (e.g. <see cref="RestormerConfig"/>).</param>
public sealed record ArchInfo(string Arch, int SizeMultiple, PadMode PadMode, string? ContainerKey, long InputChannels, long OutputChannels, object Config);

/// <summary>
/// Builds a network from an architecture name and a JSON configuration holding the official constructor
/// arguments by their official names (exactly the <c>config</c> objects of the parity fixtures, e.g.
/// <c>{"dim": 8, "LayerNorm_type": "BiasFree"}</c>). Missing fields take the official defaults; unknown fields are
/// refused so that a typo cannot silently build a different network.
/// </summary>
public static class ModelFactory
{
    // The registry. Adding an architecture is one entry:
    //   ["name"] = Arch.Of<TConfig>(config => new Model(config), config => new ArchInfo(...)),
    private static readonly Dictionary<string, Arch> Registry = new(StringComparer.OrdinalIgnoreCase)
    {
        ["restormer"] = Arch.Of<RestormerConfig>(
            c => Restormer.Create(c),
            c => new ArchInfo("restormer", 8, PadMode.Reflect, "params", c.InpChannels, c.OutChannels, c)),
        ["nafnet"] = Arch.Of<NAFNetConfig>(
            c => NAFNet.Create(c),
            c => new ArchInfo("nafnet", 1 << c.EncBlkNums.Length, PadMode.Zero, "params", c.ImgChannel, c.ImgChannel, c)),
        ["mprnet"] = Arch.Of<MPRNetConfig>(
            c => MPRNet.Create(c),
            c => new ArchInfo("mprnet", 8, PadMode.Reflect, "state_dict", c.InC, c.OutC, c)),
        // DA-RCOT (official MRCNet, decoder=True; checkpoints keep the network under "Tnet") and the REC
        // compositions. A *-rec config is the backbone's official arguments, or {"backbone": {...}, "rec": {...}}
        // (RecArchConfig); their weights are our own checkpoints (no container key).
        ["darcot"] = Arch.Of<DaRcotConfig>(
            c => DaRcotNet.Create(c),
            c => new ArchInfo("darcot", 8, PadMode.Replicate, "Tnet", c.InpChannels, c.OutChannels, c)),
        ["restormer-rec"] = Arch.Of<RecArchConfig<RestormerConfig>>(
            c => RecModels.FromConfig(c),
            c => new ArchInfo("restormer-rec", Math.Max(8, c.Rec.DenseDownscale ?? 8), c.Rec.PadMode ?? PadMode.Reflect, null, c.Backbone.InpChannels, c.Backbone.OutChannels, c)),
        ["nafnet-rec"] = Arch.Of<RecArchConfig<NAFNetConfig>>(
            c => RecModels.FromConfig(c),
            c => new ArchInfo("nafnet-rec", Math.Max(1 << c.Backbone.EncBlkNums.Length, c.Rec.DenseDownscale ?? 8), c.Rec.PadMode ?? PadMode.Zero, null, c.Backbone.ImgChannel, c.Backbone.ImgChannel, c)),
        ["mprnet-rec"] = Arch.Of<RecArchConfig<MPRNetConfig>>(
            c => RecModels.FromConfig(c),
            c => new ArchInfo("mprnet-rec", Math.Max(8, c.Rec.DenseDownscale ?? 8), c.Rec.PadMode ?? PadMode.Reflect, null, c.Backbone.InC, c.Backbone.OutC, c)),
    };

    /// <summary>The JSON options every configuration is read with: official names, comments and trailing commas
    /// allowed, unknown fields refused.</summary>
    public static JsonSerializerOptions ConfigJsonOptions { get; } = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>The architecture names <see cref="Create"/> accepts, sorted.</summary>
    public static IReadOnlyList<string> KnownArchs => Registry.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Builds the network <paramref name="arch"/> (case-insensitive) from <paramref name="configJson"/> (null or
    /// empty = official defaults). The model has freshly initialised weights; load a checkpoint next.
    /// </summary>
    /// <param name="arch">The architecture name.</param>
    /// <param name="configJson">The official constructor arguments as JSON.</param>
    /// <param name="logger">Receives a warning for every value the official code accepts but silently reads as
    /// something else (e.g. a <c>LayerNorm_type</c> other than <c>BiasFree</c> builds <c>WithBias</c>).</param>
    /// <exception cref="ModelConfigException">Unknown architecture (the message lists the known ones), malformed
    /// JSON, an unknown field or an invalid value (the message names the field).</exception>
    public static (nn.Module<Tensor, Tensor> Model, ArchInfo Info) Create(string arch, string? configJson = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(arch);
        if (!Registry.TryGetValue(arch.Trim(), out var entry))
            throw new ModelConfigException("arch", $"unknown architecture '{arch}'; known: {string.Join(", ", KnownArchs)}.");
        var (model, info) = entry.Build(configJson);
        if (logger is not null && info.Config is IConfigWarnings warnings)
            foreach (var warning in warnings.Warnings()) logger.LogWarning("{Arch} config: {Warning}", info.Arch, warning);
        return (model, info);
    }

    /// <summary>Parses <paramref name="json"/> into <typeparamref name="TConfig"/> with <see cref="ConfigJsonOptions"/>;
    /// null or blank gives the defaults. JSON errors become <see cref="ModelConfigException"/> naming the field.</summary>
    public static TConfig ParseConfig<TConfig>(string? json) where TConfig : class, new()
    {
        if (string.IsNullOrWhiteSpace(json)) return new TConfig();
        try
        {
            return JsonSerializer.Deserialize<TConfig>(json, ConfigJsonOptions)
                   ?? throw new ModelConfigException("config", "the JSON is null; expected an object of constructor arguments.");
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "config" : e.Path.TrimStart('$', '.');
            throw new ModelConfigException(field, JsonErrorText.Describe(e));
        }
    }

    /// <summary>One registry entry: parse the config, build the model, describe it.</summary>
    private sealed class Arch
    {
        private readonly Func<string?, (nn.Module<Tensor, Tensor>, ArchInfo)> _build;
        private Arch(Func<string?, (nn.Module<Tensor, Tensor>, ArchInfo)> build) => _build = build;

        public (nn.Module<Tensor, Tensor>, ArchInfo) Build(string? json) => _build(json);

        public static Arch Of<TConfig>(Func<TConfig, nn.Module<Tensor, Tensor>> create, Func<TConfig, ArchInfo> info)
            where TConfig : class, new() =>
            new(json =>
            {
                var config = ParseConfig<TConfig>(json);
                // The model's constructor validates; build it first so that info never describes an invalid config.
                var model = create(config);
                return (model, info(config));
            });
    }
}

/// <summary>A configuration with values the official code accepts but reads silently as something else.</summary>
internal interface IConfigWarnings
{
    /// <summary>One sentence per such value, naming the field, the value and what is built instead.</summary>
    IEnumerable<string> Warnings();
}
