namespace DaRcot.Rec.Errors;

/// <summary>A compute device was requested that this process cannot use (e.g. <c>cuda</c> when the application
/// references only the CPU build of libtorch, or no GPU is present).</summary>
public sealed class DeviceUnavailableException : DaRcotException
{
    /// <summary>The requested device, as given (e.g. <c>cuda</c>, <c>cuda:1</c>).</summary>
    public string Device { get; }

    /// <summary>Creates the exception for <paramref name="device"/> with the reason.</summary>
    public DeviceUnavailableException(string device, string reason) : base($"Device '{device}' is not available: {reason}") => Device = device;
}
