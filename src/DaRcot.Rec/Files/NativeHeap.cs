using System.Runtime.InteropServices;

namespace DaRcot.Rec.Files;

/// <summary>
/// Hands memory freed by libtorch back to the operating system. glibc keeps freed blocks of a few MB in its arenas
/// for reuse, so a long tiled restoration (thousands of short-lived activations per tile) grew its resident memory by
/// about 5 MB per tile with no tensor alive; trimming after each tile keeps it flat. A no-op where glibc's
/// <c>malloc_trim</c> does not exist.
/// </summary>
internal static class NativeHeap
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int MallocTrim(nuint pad);

    private static readonly Lazy<MallocTrim?> Trim = new(Load);

    /// <summary>Returns the free memory at the top of every heap and whole free pages inside them to the OS.</summary>
    public static void ReleaseFreed() => Trim.Value?.Invoke(0);

    private static MallocTrim? Load()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc)) return null;
        return NativeLibrary.TryGetExport(libc, "malloc_trim", out var address) ? Marshal.GetDelegateForFunctionPointer<MallocTrim>(address) : null;
    }
}
