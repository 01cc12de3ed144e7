using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Data.Datasets;

/// <summary>An input (degraded) image and its target (clean) image.</summary>
/// <param name="Key">The matching key (by default the file stem).</param>
/// <param name="InputPath">Degraded image.</param>
/// <param name="TargetPath">Clean image.</param>
public sealed record ImagePair(string Key, string InputPath, string TargetPath);

/// <summary>How <see cref="PairedFolder.Match"/> pairs files.</summary>
public enum FolderPairing
{
    /// <summary>By key (file stem, optionally normalised): robust to missing files, which are reported.</summary>
    ByStem = 0,

    /// <summary>By position in the sorted lists, as the official tester zips <c>sorted(glob(...))</c>; extra files on the longer side are reported.</summary>
    SortedOrder = 1,
}

/// <summary>The result of pairing two folders: the pairs and the files left without a partner.</summary>
public sealed class PairingReport
{
    internal PairingReport(string inputDirectory, string targetDirectory, IReadOnlyList<ImagePair> pairs,
        IReadOnlyList<string> unmatchedInputs, IReadOnlyList<string> unmatchedTargets)
    {
        InputDirectory = inputDirectory;
        TargetDirectory = targetDirectory;
        Pairs = pairs;
        UnmatchedInputs = unmatchedInputs;
        UnmatchedTargets = unmatchedTargets;
    }

    /// <summary>The degraded-image folder.</summary>
    public string InputDirectory { get; }

    /// <summary>The clean-image folder.</summary>
    public string TargetDirectory { get; }

    /// <summary>Matched pairs, sorted by key.</summary>
    public IReadOnlyList<ImagePair> Pairs { get; }

    /// <summary>Input files without a target.</summary>
    public IReadOnlyList<string> UnmatchedInputs { get; }

    /// <summary>Target files without an input.</summary>
    public IReadOnlyList<string> UnmatchedTargets { get; }

    /// <summary>True when every file has a partner.</summary>
    public bool IsComplete => UnmatchedInputs.Count == 0 && UnmatchedTargets.Count == 0;

    /// <summary>A human-readable summary listing (up to 10 of) the unmatched files on each side.</summary>
    public string Describe()
    {
        static string List(IReadOnlyList<string> files) =>
            string.Join(", ", files.Take(10).Select(Path.GetFileName)) + (files.Count > 10 ? $", ... ({files.Count - 10} more)" : "");
        var text = $"{Pairs.Count} pairs from '{InputDirectory}' and '{TargetDirectory}'";
        if (UnmatchedInputs.Count > 0) text += $"; {UnmatchedInputs.Count} input(s) without target: {List(UnmatchedInputs)}";
        if (UnmatchedTargets.Count > 0) text += $"; {UnmatchedTargets.Count} target(s) without input: {List(UnmatchedTargets)}";
        return text + ".";
    }
}

/// <summary>Pairs degraded and clean images stored in two folders.</summary>
public static class PairedFolder
{
    /// <summary>
    /// Matches the images of <paramref name="inputDirectory"/> and <paramref name="targetDirectory"/>.
    /// </summary>
    /// <param name="inputDirectory">Degraded images.</param>
    /// <param name="targetDirectory">Clean images.</param>
    /// <param name="mode">By key (default) or by sorted position (the official tester).</param>
    /// <param name="inputKey">Maps an input file stem to the key of its target (default: the stem itself); several inputs may map to one target, e.g. SOTS's
    /// <c>0001_0.8_0.2</c> → <c>0001</c>.</param>
    /// <param name="targetKey">Maps a target file stem to its key (default: the stem itself), e.g. Rain100L's
    /// <c>norain-1</c> → <c>1</c>.</param>
    /// <exception cref="DaRcotException">A folder is missing, two inputs share a stem, or two targets map to the same key
    /// (the message names both files).</exception>
    public static PairingReport Match(string inputDirectory, string targetDirectory, FolderPairing mode = FolderPairing.ByStem,
        Func<string, string>? inputKey = null, Func<string, string>? targetKey = null)
    {
        var inputs = ImageFiles.List(inputDirectory);
        var targets = ImageFiles.List(targetDirectory);
        if (mode == FolderPairing.SortedOrder)
        {
            int n = Math.Min(inputs.Count, targets.Count);
            var sortedPairs = Enumerable.Range(0, n)
                .Select(i => new ImagePair(Path.GetFileNameWithoutExtension(targets[i]), inputs[i], targets[i])).ToArray();
            return new PairingReport(inputDirectory, targetDirectory, sortedPairs, inputs.Skip(n).ToArray(), targets.Skip(n).ToArray());
        }

        // Several inputs may share one target (RESIDE has several hazy versions of one clear image), so inputs are
        // indexed by their own stem and only looked up by key; two targets with one key are ambiguous.
        Index(inputs, null);
        var targetByKey = Index(targets, targetKey);
        var pairs = new List<ImagePair>();
        var unmatchedInputs = new List<string>();
        var usedTargets = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            var key = (inputKey ?? (s => s))(Path.GetFileNameWithoutExtension(input));
            if (targetByKey.TryGetValue(key, out var target))
            {
                pairs.Add(new ImagePair(Path.GetFileNameWithoutExtension(input), input, target));
                usedTargets.Add(target);
            }
            else unmatchedInputs.Add(input);
        }
        var unmatchedTargets = targets.Where(t => !usedTargets.Contains(t)).ToArray();
        return new PairingReport(inputDirectory, targetDirectory,
            pairs.OrderBy(p => p.Key, StringComparer.Ordinal).ToArray(), unmatchedInputs, unmatchedTargets);
    }

    /// <summary>Key normaliser for Rain100L-style names: strips a leading <c>norain</c>/<c>rain</c> and a separator (<c>norain-12</c>, <c>rain-12</c> → <c>12</c>).</summary>
    public static string RainKey(string stem)
    {
        ArgumentNullException.ThrowIfNull(stem);
        var s = stem;
        if (s.StartsWith("norain", StringComparison.OrdinalIgnoreCase)) s = s[6..];
        else if (s.StartsWith("rain", StringComparison.OrdinalIgnoreCase)) s = s[4..];
        return s.TrimStart('-', '_');
    }

    /// <summary>Key normaliser for RESIDE/SOTS names: the part before the first underscore (<c>0001_0.8_0.2</c> → <c>0001</c>).</summary>
    public static string HazeKey(string stem)
    {
        ArgumentNullException.ThrowIfNull(stem);
        int i = stem.IndexOf('_');
        return i < 0 ? stem : stem[..i];
    }

    private static Dictionary<string, string> Index(IReadOnlyList<string> files, Func<string, string>? key)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var k = (key ?? (s => s))(Path.GetFileNameWithoutExtension(file));
            if (map.TryGetValue(k, out var other))
                throw new DaRcotException($"Ambiguous pairing key '{k}': both '{other}' and '{file}' map to it; remove or rename one.");
            map[k] = file;
        }
        return map;
    }
}
