"use client";

// The chat runs in the browser only: this module is the client boundary.
export { Chat } from "../../chat/Chat";
