using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Inference.Sharding;

/// <summary>One input listed in a manifest.</summary>
/// <param name="Line">Its line in the manifest (1-based).</param>
/// <param name="Key">Its path relative to the manifest's folder, with <c>/</c> separators: the name reports and
/// outputs use, the same on every machine whatever the mount point.</param>
/// <param name="Path">Its absolute path.</param>
public sealed record ManifestEntry(int Line, string Key, string Path);

/// <summary>
/// A text file listing the inputs of a job, one path per line. Blank lines and lines starting with <c>#</c> are
/// ignored; surrounding whitespace is trimmed; relative paths are relative to the manifest's folder. Every input must
/// lie inside that folder (absolute paths too): outputs keep the path relative to it, so <c>a/x.png</c> and
/// <c>b/x.png</c> never collide.
/// </summary>
public static class InputManifest
{
    /// <summary>Reads the manifest at <paramref name="path"/>. The listed files need not exist yet (a missing one
    /// fails in the shard it is assigned to).</summary>
    /// <exception cref="ShardingException">An input is outside the manifest's folder or listed twice, or the
    /// manifest lists nothing; the message names the line.</exception>
    /// <exception cref="IOException">The manifest cannot be read.</exception>
    public static IReadOnlyList<ManifestEntry> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new IOException($"manifest '{path}' does not exist.");
        var root = Root(path);
        var entries = new List<ManifestEntry>();
        var lineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(root, line));
            var key = System.IO.Path.GetRelativePath(root, full).Replace('\\', '/');
            if (key == "." || key == ".." || key.StartsWith("../", StringComparison.Ordinal) || System.IO.Path.IsPathRooted(key))
                throw new ShardingException($"manifest '{path}' line {number}: '{line}' is not inside the manifest's folder '{root}'; outputs keep the path relative to that folder, so put the manifest at the top of the data.");
            if (lineOf.TryGetValue(key, out var first))
                throw new ShardingException($"manifest '{path}' line {number}: '{line}' is already listed on line {first}.");
            lineOf[key] = number;
            entries.Add(new ManifestEntry(number, key, full));
        }
        if (entries.Count == 0) throw new ShardingException($"manifest '{path}' lists no inputs.");
        return entries;
    }

    /// <summary>The folder relative paths in the manifest at <paramref name="path"/> are relative to (absolute).</summary>
    public static string Root(string path) => System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
}
