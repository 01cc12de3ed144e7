namespace DaRcot.Rec.Checkpoints;

/// <summary>
/// Replaces a file all at once: the content goes to a temporary file in the same folder, is flushed to disk, and
/// is then renamed over the target. A crash or exception at any point leaves the previous file intact (a rename
/// within one file system is atomic), and the temporary file is removed on error.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    /// <param name="path">The target file; its folder is created when missing.</param>
    /// <param name="write">Writes the complete content to the given stream. Any exception it throws propagates
    /// after the temporary file has been deleted; the old file is untouched.</param>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        // Same folder as the target so that the final rename never crosses file systems.
        var temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
