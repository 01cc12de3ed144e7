using System.Text.RegularExpressions;

namespace DaRcot.Rec.Checkpoints;

/// <summary>
/// Replaces a file all at once: the content goes to a temporary file in the same folder, is flushed to disk, and
/// is then renamed over the target. A crash or exception at any point leaves the previous file intact (a rename
/// within one file system is atomic), and the temporary file is removed on error; one left by a killed process
/// is recognised by its name (<see cref="IsTemporaryFile"/>) and removed by <see cref="DeleteStaleTemporaryFiles"/>.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    /// <param name="path">The target file; its folder is created when missing.</param>
    /// <param name="write">Writes the complete content to the given stream. Any exception it throws propagates
    /// after the temporary file has been deleted; the old file is untouched.</param>
    /// <exception cref="IOException">The folder or file cannot be written; the message names
    /// <paramref name="path"/>, never the hidden temporary file.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        // Same folder as the target so that the final rename never crosses file systems.
        var temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(folder);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DeleteQuietly(temp);
            throw new IOException($"Cannot write '{path}': {e.Message.Replace(temp, full, StringComparison.Ordinal)}", e);
        }
        catch
        {
            DeleteQuietly(temp);
            throw;
        }
    }

    /// <summary>Whether <paramref name="fileName"/> is a temporary file of <see cref="Write"/>
    /// (<c>.NAME.32-hex-digits.tmp</c>).</summary>
    public static bool IsTemporaryFile(string fileName) => TemporaryName().IsMatch(Path.GetFileName(fileName));

    /// <summary>The file name a temporary file of <see cref="Write"/> was going to become (<c>.NAME.hex.tmp</c> →
    /// <c>NAME</c>), or null when <paramref name="fileName"/> is not one.</summary>
    public static string? TargetOfTemporaryFile(string fileName)
    {
        var name = Path.GetFileName(fileName);
        // ".NAME" + "." + 32 hex digits + ".tmp": the suffix is 37 characters.
        return TemporaryName().IsMatch(name) ? name[1..^37] : null;
    }

    /// <summary>
    /// Deletes the temporary files <see cref="Write"/> left in <paramref name="folder"/> when its process was killed
    /// mid-write (a checkpoint's can be hundreds of MB). Only call it while no other process writes there (e.g.
    /// under <see cref="Training.RunFolderLock"/>): a live writer's temporary file looks the same.
    /// </summary>
    /// <returns>The files deleted and their total size.</returns>
    public static (int Files, long Bytes) DeleteStaleTemporaryFiles(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder)) return (0, 0);
        int count = 0;
        long bytes = 0;
        foreach (var file in Directory.EnumerateFiles(folder, ".*.tmp").Where(IsTemporaryFile))
        {
            var size = new FileInfo(file).Length;
            if (!DeleteQuietly(file)) continue;
            count++;
            bytes += size;
        }
        return (count, bytes);
    }

    private static bool DeleteQuietly(string file)
    {
        try
        {
            File.Delete(file);
            return true;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    [GeneratedRegex(@"^\..+\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TemporaryName();
}
