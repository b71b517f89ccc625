import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Chat } from "../../chat/Chat";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Chat title="React chat" />
  </StrictMode>,
);
