using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>
/// Writes clean photos, degraded synthetically, into the official test layout (<see cref="OfficialTestLayout"/>), so
/// that <c>darcot eval</c> and the official test scripts read them as they read Rain100L, SOTS, BSD68, GoPro and LOL:
/// <code>
/// derain/Rain100L/input/rain-N.png     derain/Rain100L/target/norain-N.png
/// dehaze/input/N_synthetic.png         dehaze/target/N.png
/// denoise/bsd68/N.png                  (clean only: the noise is drawn at test time, official seeds)
/// deblur/input/N.png                   deblur/target/N.png
/// lowlight/low/N.png                   lowlight/high/N.png
/// </code>
/// N is the 1-based index of the photo in name order; the mapping to the photos is returned.
/// </summary>
public static class SyntheticTestSetWriter
{
    /// <summary>The degradation that stands for each layout task.</summary>
    public static IReadOnlyDictionary<string, string> Generators { get; } = new Dictionary<string, string>
    {
        ["derain"] = "derain",
        ["dehaze"] = "dehaze",
        ["denoise"] = "denoise_25",
        ["deblur"] = "deblur",
        ["lowlight"] = "lowlight",
    };

    /// <summary>Writes the layout.</summary>
    /// <param name="cleanFiles">Clean photos (PNG, JPEG or BMP).</param>
    /// <param name="root">The test root to create (e.g. <c>data/Test</c>); existing files with the same names are replaced.</param>
    /// <param name="tasks">Layout tasks (<see cref="OfficialTestLayout.Tasks"/>); default all five.</param>
    /// <param name="seed">Each image's degradation uses <c>seed + index</c>.</param>
    /// <param name="progress">Reports images written.</param>
    /// <param name="cancellationToken">Checked between images.</param>
    /// <returns>Index → source photo (the numbered names stand for these).</returns>
    /// <exception cref="DaRcotException">An unknown task, no photos, or a photo that cannot be read (named).</exception>
    public static IReadOnlyList<(int Index, string Source)> Write(IReadOnlyList<string> cleanFiles, string root, IReadOnlyList<string>? tasks = null,
        long seed = 1, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cleanFiles);
        ArgumentNullException.ThrowIfNull(root);
        tasks ??= OfficialTestLayout.Tasks;
        foreach (var task in tasks)
            if (!Generators.ContainsKey(task))
                throw new DaRcotException($"Unknown layout task '{task}'. Known: {string.Join(", ", Generators.Keys)}.");
        if (cleanFiles.Count == 0) throw new DaRcotException("no clean photos to degrade.");
        var sources = cleanFiles.Order(StringComparer.Ordinal).Select((f, i) => (Index: i + 1, Source: f)).ToArray();
        var written = 0;
        foreach (var (index, source) in sources)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var clean = ImageTensor.Load(source);
            foreach (var task in tasks)
            {
                var (input, target) = Names(task, index);
                if (task == "denoise")
                {
                    Save(clean, Path.Combine(root, "denoise", "bsd68", target));
                    continue;
                }
                var degraded = DegradationRegistry.Create(Generators[task]).Apply(clean, seed + index);
                Save(degraded, Path.Combine(root, input));
                Save(clean, Path.Combine(root, target));
            }
            progress?.Report(++written);
        }
        return sources;
    }

    /// <summary>Input and target paths (relative to the root) of photo <paramref name="index"/> in <paramref name="task"/>.</summary>
    private static (string Input, string Target) Names(string task, int index) => task switch
    {
        "derain" => (Path.Combine("derain", "Rain100L", "input", $"rain-{index}.png"), Path.Combine("derain", "Rain100L", "target", $"norain-{index}.png")),
        "dehaze" => (Path.Combine("dehaze", "input", $"{index}_synthetic.png"), Path.Combine("dehaze", "target", $"{index}.png")),
        "deblur" => (Path.Combine("deblur", "input", $"{index}.png"), Path.Combine("deblur", "target", $"{index}.png")),
        "lowlight" => (Path.Combine("lowlight", "low", $"{index}.png"), Path.Combine("lowlight", "high", $"{index}.png")),
        _ => ("", $"{index}.png"),
    };

    private static void Save(Tensor image, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageTensor.Save(image, path);
    }
}
