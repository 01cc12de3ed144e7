using System.Runtime.InteropServices;

namespace DaRcot.Rec.Files;

/// <summary>
/// Checks that a path names a regular file (after following symbolic links) before anything opens it: a FIFO would
/// block the reader forever, and a device such as <c>/dev/zero</c> reports size 0 but never ends. The checks use the
/// final target's type, not the link's own size.
/// </summary>
public static class RegularFile
{
    /// <summary>Null when <paramref name="path"/> is an existing regular file (possibly through links); otherwise
    /// the reason, worded to follow the path in a message (e.g. "is a FIFO (named pipe), not a regular file").</summary>
    public static string? Problem(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) return "is a folder, not a file.";
        var kind = FileTypeOf(path);
        if (kind is null)
        {
            // No file-type query on this platform: existence is all that can be checked before opening.
            return File.Exists(path) ? null : Missing(path);
        }
        return kind.Value switch
        {
            Kind.Regular => null,
            Kind.Missing => Missing(path),
            Kind.Fifo => $"is a FIFO (named pipe){Via(path)}, not a regular file; reading it could block forever.",
            Kind.CharacterDevice => $"is a character device{Via(path)}, not a regular file.",
            Kind.BlockDevice => $"is a block device{Via(path)}, not a regular file.",
            Kind.Socket => $"is a socket{Via(path)}, not a regular file.",
            Kind.Directory => "is a folder, not a file.",
            _ => $"is not a regular file{Via(path)}.",
        };
    }

    /// <summary>Throws <paramref name="error"/>(reason) unless <paramref name="path"/> is a regular file.</summary>
    public static void Require(string path, Func<string, Exception> error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (Problem(path) is { } reason) throw error(reason);
    }

    private static string Missing(string path)
    {
        // A dangling link is worth naming: the user sees a file in `ls`.
        try
        {
            if (new FileInfo(path).LinkTarget is { } target) return $"is a link to '{target}', which does not exist.";
        }
        catch (IOException) { }
        return "does not exist.";
    }

    private static string Via(string path)
    {
        try
        {
            var target = File.ResolveLinkTarget(path, returnFinalTarget: true);
            return target is null ? "" : $" (it is a link to '{target.FullName}')";
        }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    private enum Kind { Missing, Regular, Directory, Fifo, CharacterDevice, BlockDevice, Socket, Other }

    // statx(2) has the same layout on every Linux architecture (unlike struct stat): stx_mode is the u16 at offset 28.
    [UnmanagedFunctionPointer(CallingConvention.Cdecl, SetLastError = true)]
    private delegate int StatxFunction(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);

    private static readonly Lazy<StatxFunction?> Statx = new(LoadStatx);

    private static StatxFunction? LoadStatx()
    {
        if (!OperatingSystem.IsLinux()) return null;
        if (!NativeLibrary.TryLoad("libc.so.6", out var libc) && !NativeLibrary.TryLoad("libc", out libc)) return null;
        return NativeLibrary.TryGetExport(libc, "statx", out var address)
            ? Marshal.GetDelegateForFunctionPointer<StatxFunction>(address)
            : null;
    }

    private static Kind? FileTypeOf(string path)
    {
        var statx = Statx.Value;
        if (statx is null) return null;
        const int AtFdCwd = -100;
        const uint StatxType = 0x1;
        var buffer = new byte[256];
        // flags 0: follow symbolic links, so the final target's type is what counts.
        if (statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            const int Enoent = 2, Enotdir = 20;
            return errno is Enoent or Enotdir ? Kind.Missing : null;
        }
        var mode = MemoryMarshal.Read<ushort>(buffer.AsSpan(28));   // native byte order, as the kernel wrote it
        return (mode & 0xF000) switch
        {
            0x8000 => Kind.Regular,
            0x4000 => Kind.Directory,
            0x1000 => Kind.Fifo,
            0x2000 => Kind.CharacterDevice,
            0x6000 => Kind.BlockDevice,
            0xC000 => Kind.Socket,
            _ => Kind.Other,
        };
    }
}
