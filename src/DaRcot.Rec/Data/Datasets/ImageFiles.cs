using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>Listing image files and finding dataset sub-folders.</summary>
public static class ImageFiles
{
    /// <summary>Extensions treated as images (the formats <see cref="Imaging.ImageTensor"/> decodes).</summary>
    public static IReadOnlySet<string> Extensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp" };

    /// <summary>Whether <paramref name="path"/> has an image extension.</summary>
    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path));

    /// <summary>
    /// The image files directly in <paramref name="directory"/> (or below it with <paramref name="recursive"/>),
    /// sorted by ordinal path so every platform sees the same order.
    /// </summary>
    /// <exception cref="DaRcotException">The directory does not exist.</exception>
    public static IReadOnlyList<string> List(string directory, bool recursive = false)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DaRcotException($"Image folder '{directory}' does not exist.");
        return Directory.EnumerateFiles(directory, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Where(IsImage).OrderBy(p => p, StringComparer.Ordinal).ToArray();
    }

    /// <summary>
    /// The first existing sub-folder of <paramref name="parent"/> among <paramref name="names"/>, compared exactly
    /// first and then case-insensitively (the official layouts mix "Test"/"test", "lowlight"/"low_light"); null if none.
    /// </summary>
    public static string? FindDirectory(string parent, params string[] names)
    {
        if (!Directory.Exists(parent)) return null;
        foreach (var name in names)
        {
            var exact = Path.Combine(parent, name);
            if (Directory.Exists(exact)) return exact;
        }
        var subdirs = Directory.GetDirectories(parent);
        foreach (var name in names)
        {
            var match = subdirs.FirstOrDefault(d => string.Equals(Path.GetFileName(d), name, StringComparison.OrdinalIgnoreCase));
            if (match is not null) return match;
        }
        return null;
    }
}
