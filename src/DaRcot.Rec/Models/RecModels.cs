using System.Text.Json;
using System.Text.Json.Serialization;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Imaging;
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

    /// <summary>Restormer + REC from its JSON form (see <see cref="RecArchConfig{TBackbone}"/>).</summary>
    public static ResidualConditionedMap FromConfig(RecArchConfig<RestormerConfig> config, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return RestormerRec(config.Backbone, config.Rec.ToOptions(PadMode.Reflect), logger);
    }

    /// <summary>NAFNet + REC from its JSON form (see <see cref="RecArchConfig{TBackbone}"/>).</summary>
    public static ResidualConditionedMap FromConfig(RecArchConfig<NAFNetConfig> config, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return NAFNetRec(config.Backbone, config.Rec.ToOptions(PadMode.Zero), logger);
    }

    /// <summary>MPRNet + REC from its JSON form (see <see cref="RecArchConfig{TBackbone}"/>).</summary>
    public static ResidualConditionedMap FromConfig(RecArchConfig<MPRNetConfig> config, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return MPRNetRec(config.Backbone, config.Rec.ToOptions(PadMode.Reflect), config.Rec.ConditionStage3 ?? false, logger);
    }
}

/// <summary>
/// The JSON form of <see cref="RecOptions"/> used by <see cref="ModelFactory"/>'s <c>*-rec</c> architectures (the
/// <c>"rec"</c> object of a <see cref="RecArchConfig{TBackbone}"/>). Omitted fields keep the defaults.
/// </summary>
public sealed record RecOptionsConfig
{
    /// <summary><c>ZeroInitProjection</c> (default), <c>ScaledAdditionFusion</c> or <c>Film</c>.</summary>
    [JsonPropertyName("injector"), JsonConverter(typeof(JsonStringEnumConverter<InjectorKind>))]
    public InjectorKind? Injector { get; init; }

    /// <summary><c>Reflect</c>, <c>Replicate</c> or <c>Zero</c>; default: the backbone's official padding.</summary>
    [JsonPropertyName("pad_mode"), JsonConverter(typeof(JsonStringEnumConverter<PadMode>))]
    public PadMode? PadMode { get; init; }

    /// <summary>Downscales to condition (<see cref="RecOptions.Downscales"/>); default: every declared one.</summary>
    [JsonPropertyName("downscales")] public int[]? Downscales { get; init; }

    /// <summary><see cref="RecOptions.DenseDownscale"/>.</summary>
    [JsonPropertyName("dense_downscale")] public int? DenseDownscale { get; init; }

    /// <summary><see cref="RecOptions.DetachFirstPass"/>.</summary>
    [JsonPropertyName("detach_first_pass")] public bool? DetachFirstPass { get; init; }

    /// <summary><see cref="RecOptions.ShareEncoder"/>.</summary>
    [JsonPropertyName("share_encoder")] public bool? ShareEncoder { get; init; }

    /// <summary><see cref="RegmOptions.Width"/>.</summary>
    [JsonPropertyName("regm_width")] public long? RegmWidth { get; init; }

    /// <summary><see cref="RegmOptions.Blocks"/>.</summary>
    [JsonPropertyName("regm_blocks")] public int[]? RegmBlocks { get; init; }

    /// <summary><see cref="RegmOptions.Heads"/>.</summary>
    [JsonPropertyName("regm_heads")] public long[]? RegmHeads { get; init; }

    /// <summary><see cref="RegmOptions.FfnExpansionFactor"/>.</summary>
    [JsonPropertyName("regm_ffn_expansion_factor")] public double? RegmFfnExpansionFactor { get; init; }

    /// <summary>MPRNet only: also condition stage 3's full-resolution input.</summary>
    [JsonPropertyName("condition_stage3")] public bool? ConditionStage3 { get; init; }

    /// <summary>The options, with <paramref name="defaultPad"/> when <see cref="PadMode"/> is not given.</summary>
    public RecOptions ToOptions(PadMode defaultPad)
    {
        var d = new RecOptions();
        return new RecOptions
        {
            Injector = Injector ?? d.Injector,
            PadMode = PadMode ?? defaultPad,
            Downscales = Downscales,
            DenseDownscale = DenseDownscale ?? d.DenseDownscale,
            DetachFirstPass = DetachFirstPass ?? d.DetachFirstPass,
            ShareEncoder = ShareEncoder ?? d.ShareEncoder,
            Regm = new RegmOptions
            {
                Width = RegmWidth ?? d.Regm.Width,
                Blocks = RegmBlocks ?? d.Regm.Blocks,
                Heads = RegmHeads ?? d.Regm.Heads,
                FfnExpansionFactor = RegmFfnExpansionFactor ?? d.Regm.FfnExpansionFactor,
            },
        };
    }
}

/// <summary>
/// Configuration of a <c>*-rec</c> architecture in <see cref="ModelFactory"/>. Two JSON forms are accepted: the
/// backbone's official constructor arguments alone (REC defaults), or <c>{"backbone": {...}, "rec": {...}}</c> with
/// a <see cref="RecOptionsConfig"/>. Unknown fields are refused in both.
/// </summary>
/// <typeparam name="TBackbone">The backbone's config record (e.g. <see cref="RestormerConfig"/>).</typeparam>
[JsonConverter(typeof(RecArchConfigConverterFactory))]
public sealed class RecArchConfig<TBackbone> : IConfigWarnings where TBackbone : class, new()
{
    /// <summary>The backbone's warnings (see <see cref="ModelFactory.Create"/>).</summary>
    IEnumerable<string> IConfigWarnings.Warnings() => Backbone is IConfigWarnings w ? w.Warnings() : [];

    /// <summary>The backbone's official constructor arguments.</summary>
    public TBackbone Backbone { get; init; } = new();

    /// <summary>The REC options.</summary>
    public RecOptionsConfig Rec { get; init; } = new();
}

/// <summary>Reads and writes <see cref="RecArchConfig{TBackbone}"/> in its two JSON forms.</summary>
internal sealed class RecArchConfigConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(RecArchConfig<>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    private sealed class Converter<TBackbone> : JsonConverter<RecArchConfig<TBackbone>> where TBackbone : class, new()
    {
        public override RecArchConfig<TBackbone> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new JsonException("expected a JSON object.");
            var wrapped = root.TryGetProperty("backbone", out _) || root.TryGetProperty("rec", out _);
            if (!wrapped) return new RecArchConfig<TBackbone> { Backbone = root.Deserialize<TBackbone>(options) ?? new TBackbone() };
            TBackbone? backbone = null;
            RecOptionsConfig? rec = null;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "backbone": backbone = p.Value.Deserialize<TBackbone>(options); break;
                    case "rec": rec = p.Value.Deserialize<RecOptionsConfig>(options); break;
                    default: throw new JsonException($"unknown field '{p.Name}' next to 'backbone'/'rec' (expected only those two).");
                }
            }
            return new RecArchConfig<TBackbone> { Backbone = backbone ?? new TBackbone(), Rec = rec ?? new RecOptionsConfig() };
        }

        public override void Write(Utf8JsonWriter writer, RecArchConfig<TBackbone> value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            writer.WritePropertyName("backbone");
            JsonSerializer.Serialize(writer, value.Backbone, options);
            writer.WritePropertyName("rec");
            JsonSerializer.Serialize(writer, value.Rec, options);
            writer.WriteEndObject();
        }
    }
}
