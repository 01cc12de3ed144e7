using System.CommandLine;
using System.Text;
using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot metrics RESTORED REFERENCE</c>: PSNR and SSIM (scikit-image conventions, data range 1) of two images,
/// or of every same-named pair in two folders, printed as JSON on standard output.
/// </summary>
/// <remarks>
/// Keys: <c>psnr</c>, <c>ssim</c> (7×7 uniform window, sample covariance), <c>ssim_gaussian</c> (σ 1.5),
/// and the same on BT.601 luma: <c>psnr_y</c>, <c>ssim_y</c>, <c>ssim_y_gaussian</c>. The luma keys are null when both
/// images are greyscale. An infinite PSNR (identical images) is written as the string "Infinity".
/// For folders the output is <c>{ "pairs": [ { "name": ..., metrics } ], "mean": { metrics }, "count": n }</c>;
/// files are paired by file name, else by name without extension.
/// </remarks>
public sealed class MetricsCommand : ICliCommand
{
    private static readonly string[] Keys = { "psnr", "ssim", "ssim_gaussian", "psnr_y", "ssim_y", "ssim_y_gaussian" };

    /// <inheritdoc />
    public Command Build()
    {
        var restored = new Argument<string>("restored") { Description = "Restored image, or a folder of them." };
        var reference = new Argument<string>("reference") { Description = "Ground-truth image, or a folder with the same file names." };
        var command = new Command("metrics", "PSNR and SSIM (scikit-image conventions) of a restored image against its reference, as JSON.");
        command.Arguments.Add(restored);
        command.Arguments.Add(reference);
        command.SetAction((parseResult, cancellationToken) => CliOutput.RunAsync("metrics", () => Run(parseResult.GetValue(restored)!, parseResult.GetValue(reference)!)));
        return command;
    }

    private static int Run(string restored, string reference)
    {
        try
        {
            bool restoredIsFolder = Directory.Exists(restored), referenceIsFolder = Directory.Exists(reference);
            if (restoredIsFolder != referenceIsFolder)
                return Fail($"'{restored}' and '{reference}' must both be files or both be folders.");
            var json = restoredIsFolder ? CompareFolders(restored, reference) : Serialize(w => WriteMetrics(w, Measure(restored, reference)));
            if (json is null) return 1;
            Console.Out.WriteLine(json);
            return 0;
        }
        catch (DaRcotException ex)
        {
            return Fail(ex.Message);
        }
    }

    private static int Fail(string message) => CliOutput.Fail("metrics", message);

    /// <summary>All six metrics of one pair; the luma ones are null when both images are greyscale.</summary>
    private static Dictionary<string, double?> Measure(string restoredPath, string referencePath)
    {
        using var scope = torch.NewDisposeScope();
        var keep = new ImageLoadOptions { Channels = ChannelMode.KeepChannels };
        var restored = ImageTensor.Load(restoredPath, keep).to_type(ScalarType.Float64);
        var reference = ImageTensor.Load(referencePath, keep).to_type(ScalarType.Float64);
        // A grey image compared with a colour one is compared as grey replicated into R, G and B.
        if (restored.shape[1] != reference.shape[1])
        {
            restored = restored.expand(-1, 3, -1, -1);
            reference = reference.expand(-1, 3, -1, -1);
        }
        if (!restored.shape.SequenceEqual(reference.shape))
            throw new DaRcotException($"'{restoredPath}' is {restored.shape[3]}x{restored.shape[2]} but '{referencePath}' is {reference.shape[3]}x{reference.shape[2]}; the images must have the same size.");

        var result = new Dictionary<string, double?>
        {
            ["psnr"] = Psnr.Compute(restored, reference),
            ["ssim"] = Ssim.Compute(restored, reference),
            ["ssim_gaussian"] = Ssim.Compute(restored, reference, SsimVariant.Gaussian),
            ["psnr_y"] = null,
            ["ssim_y"] = null,
            ["ssim_y_gaussian"] = null,
        };
        if (restored.shape[1] == 3)
        {
            var y1 = ColorSpaces.RgbToY(restored);
            var y2 = ColorSpaces.RgbToY(reference);
            result["psnr_y"] = Psnr.Compute(y1, y2);
            result["ssim_y"] = Ssim.Compute(y1, y2);
            result["ssim_y_gaussian"] = Ssim.Compute(y1, y2, SsimVariant.Gaussian);
        }
        return result;
    }

    private static string? CompareFolders(string restoredFolder, string referenceFolder)
    {
        var references = ImagesIn(referenceFolder);
        var pairs = new List<(string Name, Dictionary<string, double?> Metrics)>();
        foreach (var restored in ImagesIn(restoredFolder))
        {
            var name = Path.GetFileName(restored);
            var match = references.FirstOrDefault(r => Path.GetFileName(r) == name)
                        ?? references.FirstOrDefault(r => Path.GetFileNameWithoutExtension(r) == Path.GetFileNameWithoutExtension(name));
            if (match is null)
            {
                Console.Error.WriteLine($"darcot metrics: skipped '{name}': no reference with that name in '{referenceFolder}'.");
                continue;
            }
            pairs.Add((name, Measure(restored, match)));
        }
        if (pairs.Count == 0)
        {
            Fail($"no image in '{restoredFolder}' has a same-named reference in '{referenceFolder}'.");
            return null;
        }

        var mean = Keys.ToDictionary(k => k, k =>
        {
            var values = pairs.Select(p => p.Metrics[k]).Where(v => v.HasValue).Select(v => v!.Value).ToList();
            return values.Count == 0 ? (double?)null : values.Average();
        });
        return Serialize(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("pairs");
            foreach (var (name, metrics) in pairs)
            {
                w.WriteStartObject();
                w.WriteString("name", name);
                WriteFields(w, metrics);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WritePropertyName("mean");
            WriteMetrics(w, mean);
            w.WriteNumber("count", pairs.Count);
            w.WriteEndObject();
        });
    }

    private static List<string> ImagesIn(string folder) =>
        Directory.EnumerateFiles(folder)
            .Where(f => ImageTensor.SupportedExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();

    private static void WriteMetrics(Utf8JsonWriter w, Dictionary<string, double?> metrics)
    {
        w.WriteStartObject();
        WriteFields(w, metrics);
        w.WriteEndObject();
    }

    private static void WriteFields(Utf8JsonWriter w, Dictionary<string, double?> metrics)
    {
        foreach (var key in Keys)
        {
            var value = metrics[key];
            if (value is null) w.WriteNull(key);
            else if (double.IsFinite(value.Value)) w.WriteNumber(key, value.Value);
            else w.WriteString(key, value.Value > 0 ? "Infinity" : "-Infinity");
        }
    }

    private static string Serialize(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            write(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
