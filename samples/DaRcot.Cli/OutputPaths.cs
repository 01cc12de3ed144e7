namespace DaRcot.Cli;

/// <summary>
/// Checks on where a command will write, done before any compute: that the output is not the input itself, and
/// that the output location accepts a new file. Messages name the user's path.
/// </summary>
public static class OutputPaths
{
    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> name the same file or folder, following
    /// symbolic links in every component.</summary>
    public static bool Same(string a, string b) =>
        string.Equals(Canonical(a), Canonical(b), OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);

    /// <summary>The absolute path with every symbolic link resolved (components that do not exist are kept).</summary>
    public static string Canonical(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var parent = Path.GetDirectoryName(full);
        if (parent is null) return full;
        var joined = Path.Combine(Canonical(parent), Path.GetFileName(full));
        FileSystemInfo info = Directory.Exists(joined) ? new DirectoryInfo(joined) : new FileInfo(joined);
        if (info.LinkTarget is null) return joined;
        try
        {
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            return target is null ? joined : Canonical(target.FullName);
        }
        catch (IOException)
        {
            return joined; // a link loop: compare as written
        }
    }

    /// <summary>Throws <see cref="IOException"/> naming <paramref name="path"/> unless a file can be written there:
    /// not a folder, and its folder exists (or can be created) and accepts a new file.</summary>
    public static void EnsureWritableFile(string path)
    {
        if (Directory.Exists(path)) throw new IOException($"cannot write '{path}': it is a folder; give a file name.");
        EnsureWritableFolder(Path.GetDirectoryName(Path.GetFullPath(path))!, path);
    }

    /// <summary>Throws <see cref="IOException"/> unless <paramref name="folder"/> exists or can be created and accepts a
    /// new file (checked by creating and deleting an empty probe file).</summary>
    /// <param name="folder">The folder.</param>
    /// <param name="shownAs">The path to name in the message (default: the folder).</param>
    public static void EnsureWritableFolder(string folder, string? shownAs = null)
    {
        shownAs ??= folder;
        if (FileAncestor(folder) is { } file) throw new IOException($"cannot write '{shownAs}': '{file}' is a file, not a folder.");
        var probe = Path.Combine(folder, $".darcot-write-check-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(folder);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (UnauthorizedAccessException)
        {
            throw new IOException($"cannot write '{shownAs}': permission denied.");
        }
        catch (IOException e)
        {
            throw new IOException($"cannot write '{shownAs}': {e.Message.Replace($" : '{probe}'", "").Replace(probe, folder)}");
        }
    }

    // The first component of `folder` that exists as a file (where CreateDirectory would fail obscurely).
    private static string? FileAncestor(string folder)
    {
        for (var p = Path.GetFullPath(folder); p is not null; p = Path.GetDirectoryName(p))
        {
            if (Directory.Exists(p)) return null;
            if (File.Exists(p)) return p;
        }
        return null;
    }
}
