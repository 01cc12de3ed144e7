using System.Reflection;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Models;

/// <summary>
/// The small all-in-one model that ships inside the library, so that restoring works without downloading anything:
/// trained with DA-RCOT's OT trainer on noise (σ 15/25/50), rain, haze, motion blur and low light; it improves
/// noise, rain, haze and low light on a held-out photo and does not improve blur (see the model card). A NAFNet
/// backbone (width 16, three levels, one block each) wrapped by the REC (<see cref="RecModels.NAFNetRec"/>) with a
/// small REGM. Its weights are an embedded resource of this assembly (float32 safetensors, trained by
/// <c>eng/train-bundled-model.sh</c>; see <c>samples/models/MODEL_CARD.md</c>).
/// </summary>
/// <remarks>
/// The architecture is defined here once; <c>samples/models/train-all-in-one.json</c> describes the same network as a
/// <c>nafnet-rec</c> configuration (a much smaller REGM than the factory's DA-RCOT-sized default), so the trained
/// state_dict loads strictly into <see cref="Create"/> (tested).
/// </remarks>
public static class BundledModel
{
    /// <summary>Name of the embedded weights resource (also the file name under <c>samples/models/</c>).</summary>
    public const string WeightsFileName = "bundled-nafnet-rec.safetensors";

    /// <summary>The architecture name reported in <see cref="ArchInfo.Arch"/>.</summary>
    public const string ArchName = "bundled-nafnet-rec";

    private const string ResourceName = "DaRcot.Rec.Models." + WeightsFileName;

    /// <summary>The backbone's official constructor arguments.</summary>
    public static NAFNetConfig BackboneConfig { get; } = new()
    {
        ImgChannel = 3,
        Width = 16,
        EncBlkNums = [1, 1, 1],
        MiddleBlkNum = 1,
        DecBlkNums = [1, 1, 1],
    };

    /// <summary>The REC options: reflect padding to a multiple of 8, a REGM of width 8 with one block per level.</summary>
    /// <remarks>Reflect, not NAFNet's zero padding: the model was trained on 64×64 patches that are never padded, and
    /// a black band below or right of a photo whose side is not a multiple of 8 reads to it as a degradation near the
    /// border. Measured on 8 degraded copies of the held-out photo (451×300): reflect gains 0.05–0.62 dB PSNR per
    /// degradation over zero padding (blur +0.62, haze +0.59) with the same weights.</remarks>
    public static RecOptions RecOptions { get; } = new()
    {
        PadMode = PadMode.Reflect,
        Regm = new RegmOptions { Width = 8, Blocks = [1, 1, 1, 1], Heads = [1, 1, 2, 2] },
    };

    /// <summary>The degradations (<see cref="Data.Degradations.DegradationRegistry"/> names) this model claims to improve:
    /// every one is measured on a held-out photo in the model card and asserted by the tests. Motion blur (<c>deblur</c>)
    /// is in its training set but not here: the model does not improve it (model card, "Limits").</summary>
    public static IReadOnlyList<string> ClaimedTasks { get; } = ["denoise_15", "denoise_25", "denoise_50", "derain", "dehaze", "lowlight"];

    /// <summary>Builds the bundled architecture with freshly initialised weights (what the training tool trains).</summary>
    public static ResidualConditionedMap Create(ILogger? logger = null) => RecModels.NAFNetRec(BackboneConfig, RecOptions, logger);

    /// <summary>Whether the weights are embedded in this assembly (false only in a build made before training).</summary>
    public static bool IsAvailable => typeof(BundledModel).Assembly.GetManifestResourceInfo(ResourceName) is not null;

    /// <summary>Opens the embedded weights (a safetensors file).</summary>
    /// <exception cref="CheckpointFormatException">This build has no embedded weights.</exception>
    public static Stream OpenWeights() =>
        typeof(BundledModel).Assembly.GetManifestResourceStream(ResourceName)
        ?? throw new CheckpointFormatException(ResourceName, "this build of DaRcot.Rec has no bundled model weights (run eng/train-bundled-model.sh and rebuild).");

    /// <summary>
    /// Builds the bundled model, loads the embedded weights strictly and puts it in eval mode (CPU, float32).
    /// </summary>
    /// <returns>The model and its inference description (reflect padding to <see cref="ResidualConditionedMap.SizeMultiple"/>).</returns>
    /// <exception cref="CheckpointFormatException">No embedded weights, or they cannot be read.</exception>
    /// <exception cref="StateDictMismatchException">The weights do not fit the architecture.</exception>
    public static (ResidualConditionedMap Model, ArchInfo Info) Load(ILogger? logger = null)
    {
        // SafetensorsFile reads from a path (it maps tensors onto the file's storage), so the resource goes through a
        // private temporary file that is deleted as soon as the tensors are copied into the model.
        var temp = Path.Combine(Path.GetTempPath(), $"darcot-bundled-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");
        try
        {
            using (var source = OpenWeights())
            using (var target = File.Create(temp))
            {
                source.CopyTo(target);
            }
            return Load(temp, logger, ResourceName);
        }
        finally
        {
            try { File.Delete(temp); } catch (IOException) { /* best effort: a temp file left behind is harmless */ }
        }
    }

    /// <summary>Builds the bundled architecture and loads <paramref name="weightsPath"/> (a checkpoint written by the
    /// training tool) strictly, in eval mode.</summary>
    /// <exception cref="CheckpointFormatException">The file cannot be read.</exception>
    /// <exception cref="StateDictMismatchException">The weights do not fit the architecture.</exception>
    public static (ResidualConditionedMap Model, ArchInfo Info) Load(string weightsPath, ILogger? logger = null) =>
        Load(weightsPath, logger, weightsPath);

    /// <summary>Logical name of the embedded degradation identifier fitted on the bundled model's embeddings.</summary>
    public const string IdentifierResourceName = "DaRcot.Rec.Models.bundled-identifier.json";

    /// <summary>The degradation identifier fitted on the bundled model's residual embeddings (<c>darcot identify
    /// --fit</c>; its held-out accuracy is in the model card).</summary>
    /// <exception cref="CheckpointFormatException">This build has no embedded identifier.</exception>
    public static Identification.DegradationIdentifier LoadIdentifier()
    {
        using var stream = typeof(BundledModel).Assembly.GetManifestResourceStream(IdentifierResourceName)
            ?? throw new CheckpointFormatException(IdentifierResourceName, "this build of DaRcot.Rec has no bundled degradation identifier (run darcot identify --fit and rebuild).");
        return Identification.DegradationIdentifier.Load(stream, IdentifierResourceName);
    }

    /// <summary>The inference description of the bundled model.</summary>
    public static ArchInfo Info(ResidualConditionedMap model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new ArchInfo(ArchName, model.SizeMultiple, RecOptions.PadMode, null, BackboneConfig.ImgChannel, BackboneConfig.ImgChannel, BackboneConfig);
    }

    private static (ResidualConditionedMap, ArchInfo) Load(string path, ILogger? logger, string source)
    {
        var model = Create(logger);
        try
        {
            var stateDict = CheckpointReader.ReadStateDict(path);
            try
            {
                StateDictLoader.LoadInto(model, stateDict, strict: true, source);
            }
            finally
            {
                foreach (var t in stateDict.Values) t.Dispose();
            }
            model.eval();
            return (model, Info(model));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
