using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;

namespace DaRcot.Rec.Inference.Sharding;

/// <summary>One image of a sharded restoration: its key (see <see cref="ShardItem"/>), input file and output file.</summary>
/// <param name="Key">The input's name in plans and reports (relative path, <c>/</c> separators).</param>
/// <param name="Input">The input image file.</param>
/// <param name="Output">Where its restored PNG goes.</param>
public sealed record ShardJob(string Key, string Input, string Output)
{
    /// <summary>The jobs for the inputs of a manifest: each output is <paramref name="outputFolder"/>/KEY with the
    /// extension <c>.png</c>, so the folder structure under the manifest's folder is kept.</summary>
    /// <exception cref="ShardingException">Two inputs would be written to the same output (e.g. <c>a.jpg</c> and
    /// <c>a.png</c> in one folder).</exception>
    public static IReadOnlyList<ShardJob> ForManifest(IEnumerable<ManifestEntry> entries, string outputFolder)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(outputFolder);
        return Checked(entries.Select(e => new ShardJob(e.Key, e.Path, Path.Combine(outputFolder, Path.ChangeExtension(e.Key, ".png")))).ToList());
    }

    /// <summary>The jobs for the images (PNG, JPEG, BMP) directly in <paramref name="inputFolder"/>, named as a folder
    /// restore names them: <paramref name="outputFolder"/>/NAME.png.</summary>
    /// <exception cref="ShardingException">Two images would be written to the same output.</exception>
    public static IReadOnlyList<ShardJob> ForFolder(string inputFolder, string outputFolder)
    {
        ArgumentNullException.ThrowIfNull(inputFolder);
        ArgumentNullException.ThrowIfNull(outputFolder);
        return Checked(Directory.EnumerateFiles(inputFolder)
            .Where(f => ImageTensor.SupportedExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal)
            .Select(f => new ShardJob(Path.GetFileName(f), f, Path.Combine(outputFolder, Path.GetFileNameWithoutExtension(f) + ".png")))
            .ToList());
    }

    // Case-insensitive, as a folder restore checks: the outputs may land on a case-insensitive file system.
    private static List<ShardJob> Checked(List<ShardJob> jobs)
    {
        var clash = jobs.GroupBy(j => j.Output, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new ShardingException($"{string.Join(" and ", clash.Select(c => $"'{c.Key}'"))} would both be written to '{clash.Key}'.");
        return jobs;
    }
}
