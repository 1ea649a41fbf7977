"""Producer tools: scenario traffic (`alertpipe simulate`) and file replay (`alertpipe replay`)."""
